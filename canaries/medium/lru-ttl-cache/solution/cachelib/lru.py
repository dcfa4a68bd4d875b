"""Least-recently-used cache with an optional time-to-live per entry."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Callable, Hashable, Optional

from cachelib.stats import CacheStats


class LRUCache:
    """Holds at most ``capacity`` entries; entries expire ``ttl`` seconds after they were put."""

    def __init__(
        self,
        capacity: int,
        ttl: Optional[float] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be positive")
        self.capacity = capacity
        self.ttl = ttl
        self._clock = clock
        # key -> (write time, value); order = least to most recently used
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self.stats = CacheStats()

    def _expired(self, written: float, now: float) -> bool:
        return self.ttl is not None and now >= written + self.ttl

    def get(self, key: Hashable, default: Any = None) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            self.stats.misses += 1
            return default
        written, value = entry
        if self._expired(written, self._clock()):
            del self._entries[key]
            self.stats.expirations += 1
            self.stats.misses += 1
            return default
        self._entries.move_to_end(key)
        self.stats.hits += 1
        return value

    def put(self, key: Hashable, value: Any) -> None:
        now = self._clock()
        if key in self._entries:
            self._entries[key] = (now, value)
            self._entries.move_to_end(key)
            return
        self._entries[key] = (now, value)
        if len(self._entries) > self.capacity:
            for old in [k for k, (w, _) in self._entries.items() if self._expired(w, now)]:
                del self._entries[old]
                self.stats.expirations += 1
        if len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
            self.stats.evictions += 1

    def delete(self, key: Hashable) -> bool:
        return self._entries.pop(key, None) is not None

    def __contains__(self, key: object) -> bool:
        entry = self._entries.get(key)  # type: ignore[call-overload]
        return entry is not None and not self._expired(entry[0], self._clock())

    def __len__(self) -> int:
        return len(self.keys())

    def keys(self) -> list:
        now = self._clock()
        return [k for k, (w, _) in self._entries.items() if not self._expired(w, now)]
