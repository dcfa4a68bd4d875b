import pytest

from cachelib import CacheStats, LRUCache


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def stats(cache):
    s = cache.stats
    return (s.hits, s.misses, s.evictions, s.expirations)


@pytest.mark.parametrize("capacity", [0, -1])
def test_bad_capacity(capacity):
    with pytest.raises(ValueError):
        LRUCache(capacity)


@pytest.mark.parametrize("ttl", [0, -5])
def test_bad_ttl(ttl):
    with pytest.raises(ValueError):
        LRUCache(2, ttl=ttl)


def test_stats_object():
    cache = LRUCache(1)
    assert isinstance(cache.stats, CacheStats)
    assert stats(cache) == (0, 0, 0, 0)


def test_hits_misses_and_lru_order():
    cache = LRUCache(3)
    for key in "abc":
        cache.put(key, key.upper())
    assert cache.get("a") == "A"
    assert cache.get("zz") is None
    assert cache.get("zz", 0) == 0
    assert cache.keys() == ["b", "c", "a"]
    cache.put("d", "D")
    assert cache.keys() == ["c", "a", "d"]
    assert stats(cache) == (1, 2, 1, 0)


def test_put_existing_updates_and_refreshes_without_eviction():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)
    assert cache.keys() == ["b", "a"]
    assert len(cache) == 2
    cache.put("c", 3)
    assert cache.keys() == ["a", "c"]
    assert cache.get("a") == 10
    assert cache.stats.evictions == 1


def test_ttl_expiry_boundary_and_stats():
    clock = FakeClock()
    cache = LRUCache(5, ttl=10, clock=clock)
    cache.put("a", 1)
    clock.now = 109.999
    assert cache.get("a") == 1
    clock.now = 110.0
    assert "a" not in cache
    assert len(cache) == 0
    assert cache.get("a", "gone") == "gone"
    assert stats(cache) == (1, 1, 0, 1)
    assert cache.get("a") is None
    assert stats(cache) == (1, 2, 0, 1)


def test_get_hit_does_not_extend_ttl():
    clock = FakeClock()
    cache = LRUCache(5, ttl=10, clock=clock)
    cache.put("a", 1)
    clock.now += 9
    assert cache.get("a") == 1
    clock.now += 1
    assert cache.get("a") is None


def test_put_restarts_ttl_even_when_expired():
    clock = FakeClock()
    cache = LRUCache(5, ttl=10, clock=clock)
    cache.put("a", 1)
    clock.now += 15
    cache.put("a", 2)
    assert stats(cache) == (0, 0, 0, 0)
    clock.now += 9
    assert cache.get("a") == 2


def test_contains_len_keys_have_no_side_effects():
    clock = FakeClock()
    cache = LRUCache(3, ttl=10, clock=clock)
    cache.put("a", 1)
    clock.now += 5
    cache.put("b", 2)
    cache.put("c", 3)
    assert "a" in cache and "zz" not in cache
    assert cache.keys() == ["a", "b", "c"]
    assert len(cache) == 3
    clock.now += 5  # "a" expired now, not yet removed
    assert "a" not in cache
    assert cache.keys() == ["b", "c"]
    assert len(cache) == 2
    assert stats(cache) == (0, 0, 0, 0)
    # "a" was never touched by the checks above: it is still the least recently used, and
    # still physically present, so delete() finds it
    assert cache.delete("a") is True
    assert cache.delete("a") is False
    assert stats(cache) == (0, 0, 0, 0)


def test_contains_does_not_refresh_recency():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert "a" in cache
    cache.put("c", 3)
    assert cache.keys() == ["b", "c"]


def test_overflow_purges_expired_before_evicting():
    clock = FakeClock()
    cache = LRUCache(3, ttl=10, clock=clock)
    cache.put("old1", 1)
    cache.put("old2", 2)
    clock.now += 6
    cache.put("fresh", 3)
    clock.now += 5  # old1 and old2 expired, fresh is not
    cache.put("new", 4)  # 4 entries > 3: purge both expired, no eviction needed
    assert cache.keys() == ["fresh", "new"]
    assert stats(cache) == (0, 0, 0, 2)


def test_overflow_without_expired_evicts_lru():
    clock = FakeClock()
    cache = LRUCache(2, ttl=10, clock=clock)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.get("a")
    cache.put("c", 3)
    assert cache.keys() == ["a", "c"]
    assert stats(cache) == (1, 0, 1, 0)


def test_no_purge_when_not_over_capacity():
    clock = FakeClock()
    cache = LRUCache(3, ttl=10, clock=clock)
    cache.put("a", 1)
    clock.now += 20
    cache.put("b", 2)
    assert stats(cache) == (0, 0, 0, 0)
    assert cache.delete("a") is True


def test_delete_then_reinsert():
    cache = LRUCache(2)
    cache.put("a", 1)
    assert cache.delete("a") is True
    assert cache.get("a") is None
    cache.put("a", 2)
    assert cache.get("a") == 2


def test_none_values_are_stored():
    cache = LRUCache(2)
    cache.put("n", None)
    assert "n" in cache
    assert cache.get("n", "default") is None
    assert cache.stats.hits == 1
    assert cache.delete("n") is True


def test_default_clock_is_monotonic():
    cache = LRUCache(2, ttl=1000)
    cache.put("a", 1)
    assert cache.get("a") == 1
