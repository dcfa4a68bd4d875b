from cachelib import CacheStats


def test_hit_rate():
    assert CacheStats().hit_rate == 0.0
    assert CacheStats(hits=3, misses=1).hit_rate == 0.75
