"""Scheduler: hours of the day at which the job runs."""

from __future__ import annotations


def plan_runs(start_hour: int, every_hours: int, count: int) -> list[int]:
    """``count`` run hours starting at ``start_hour``, ``every_hours`` apart, wrapping at 24."""
    if every_hours <= 0:
        print(f"[ERROR] invalid interval: {every_hours}")
        return []
    hours = [(start_hour + i * every_hours) % 24 for i in range(count)]
    print(f"[DEBUG] planned hours: {hours}")
    if len(set(hours)) < len(hours):
        print("[WARN] some runs fall on the same hour")
    return hours
