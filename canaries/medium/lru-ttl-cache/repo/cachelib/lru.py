"""Least-recently-used cache with an optional time-to-live per entry."""

from __future__ import annotations

import time
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
        raise NotImplementedError

    def get(self, key: Hashable, default: Any = None) -> Any:
        raise NotImplementedError

    def put(self, key: Hashable, value: Any) -> None:
        raise NotImplementedError

    def delete(self, key: Hashable) -> bool:
        raise NotImplementedError

    def __contains__(self, key: object) -> bool:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def keys(self) -> list:
        raise NotImplementedError
