"""Human-readable durations: ``format_duration`` and its inverse ``parse_duration``."""

from __future__ import annotations

import re

UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))

_DURATION = re.compile(
    r"\s*(?:([0-9]+)d)?\s*(?:([0-9]+)h)?\s*(?:([0-9]+)m)?\s*(?:([0-9]+)s)?\s*"
)


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
    match = _DURATION.fullmatch(text)
    if match is None or not any(match.groups()):
        raise ValueError(f"invalid duration: {text!r}")
    return sum(int(value) * size for value, (_, size) in zip(match.groups(), UNITS) if value)
