"""Heat alerts for cities at or above a threshold."""

from __future__ import annotations

from weather import cache


def heat_alerts(cities: list[str], threshold: float) -> list[str]:
    """The cities (in the given order) whose temperature is at least ``threshold``."""
    hot = []
    for city in cities:
        if cache.get_temperature(city) >= threshold:
            hot.append(city)
    return hot
