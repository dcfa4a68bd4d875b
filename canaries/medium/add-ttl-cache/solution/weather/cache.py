"""A small time-to-live cache in front of the slow upstream temperature service."""

from __future__ import annotations

import time
from typing import Any, Callable, Hashable

from weather import source


class TTLCache:
    """Maps keys to values that expire ``ttl_seconds`` after they were set."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, Any]] = {}

    def set(self, key: Hashable, value: Any) -> None:
        self._entries[key] = (self._clock(), value)

    def get(self, key: Hashable, default: Any = None) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            return default
        stamp, value = entry
        if self._clock() - stamp >= self.ttl_seconds:
            del self._entries[key]
            return default
        return value

    def invalidate(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


temperature_cache = TTLCache(ttl_seconds=300)

_MISSING = object()


def get_temperature(city: str) -> float:
    """The temperature of ``city``, from the cache when fresh, else from upstream."""
    key = city.strip().lower()
    cached = temperature_cache.get(key, _MISSING)
    if cached is not _MISSING:
        return cached
    value = source.fetch_temperature(city)
    temperature_cache.set(key, value)
    return value
