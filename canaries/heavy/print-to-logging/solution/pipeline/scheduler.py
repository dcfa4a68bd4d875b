"""Scheduler: hours of the day at which the job runs."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def plan_runs(start_hour: int, every_hours: int, count: int) -> list[int]:
    """``count`` run hours starting at ``start_hour``, ``every_hours`` apart, wrapping at 24."""
    if every_hours <= 0:
        logger.error(f"invalid interval: {every_hours}")
        return []
    hours = [(start_hour + i * every_hours) % 24 for i in range(count)]
    logger.debug(f"planned hours: {hours}")
    if len(set(hours)) < len(hours):
        logger.warning("some runs fall on the same hour")
    return hours
