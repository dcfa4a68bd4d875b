"""The daily temperature report."""

from __future__ import annotations

from weather import cache


def daily_report(cities: list[str]) -> str:
    """One line per city, in the given order: '<city>: <temperature with 1 decimal> C'."""
    lines = []
    for city in cities:
        temperature = cache.get_temperature(city)
        lines.append(f"{city}: {temperature:.1f} C")
    return "\n".join(lines)
