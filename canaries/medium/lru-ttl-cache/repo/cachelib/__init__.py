"""An LRU cache with optional time-to-live and hit/miss statistics."""

from cachelib.lru import LRUCache
from cachelib.stats import CacheStats

__all__ = ["CacheStats", "LRUCache"]
