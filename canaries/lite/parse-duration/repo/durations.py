"""Human-readable durations: ``format_duration`` and its inverse ``parse_duration``."""

from __future__ import annotations

UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def format_duration(seconds: int) -> str:
    """Format a non-negative number of seconds: 90061 -> '1d1h1m1s', 0 -> '0s'."""
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_duration(text: str) -> int:
    """Parse a duration such as '1h30m' or '2d 4h' into seconds (the inverse of format_duration)."""
    raise NotImplementedError("parse_duration is not implemented yet")
