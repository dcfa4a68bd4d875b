"""Notify: tell people how a run went."""

from __future__ import annotations

KNOWN_CHANNELS = ("email", "slack", "pager")


def summary_message(stats: dict) -> str:
    message = f"pipeline finished: {stats['loaded']} loaded, {stats['dropped']} dropped"
    print(f"[INFO] {message}")
    return message


def notify(stats: dict, channels: list[str]) -> list[str]:
    """Send the summary to every known channel; returns the channels it was sent to."""
    message = summary_message(stats)
    sent = []
    for channel in channels:
        if channel not in KNOWN_CHANNELS:
            print(f"[WARN] unknown channel {channel!r}, skipping")
            continue
        sent.append(channel)
        print(f"[DEBUG] sent {len(message)} characters to {channel}")
    if not sent:
        print("[ERROR] notification was not delivered anywhere")
    return sent
