import pytest

import weather.cache
import weather.source
from weather.alerts import heat_alerts
from weather.cache import TTLCache, get_temperature
from weather.report import daily_report


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def upstream(monkeypatch):
    """Count upstream calls; start every test with an empty shared cache."""
    calls = []
    real = weather.source.fetch_temperature

    def fake(city):
        calls.append(city)
        return real(city)

    monkeypatch.setattr(weather.source, "fetch_temperature", fake)
    weather.cache.temperature_cache.clear()
    yield calls
    weather.cache.temperature_cache.clear()


def test_ttlcache_get_set_and_expiry():
    clock = FakeClock()
    cache = TTLCache(ttl_seconds=10, clock=clock)
    assert cache.get("a") is None
    assert cache.get("a", "dflt") == "dflt"
    cache.set("a", 1)
    clock.now += 9.9
    assert cache.get("a") == 1
    clock.now += 0.1  # exactly ttl_seconds after set: expired
    assert cache.get("a", "gone") == "gone"
    assert cache.get("a") is None


def test_ttlcache_overwrite_renews_stamp():
    clock = FakeClock()
    cache = TTLCache(ttl_seconds=10, clock=clock)
    cache.set("a", 1)
    clock.now += 8
    cache.set("a", 2)
    clock.now += 8
    assert cache.get("a") == 2
    clock.now += 2
    assert cache.get("a") is None


def test_ttlcache_falsy_values_are_cached():
    cache = TTLCache(ttl_seconds=10, clock=FakeClock())
    cache.set("zero", 0.0)
    assert cache.get("zero", "missing") == 0.0


def test_ttlcache_invalidate_and_clear():
    cache = TTLCache(ttl_seconds=10, clock=FakeClock())
    cache.set("a", 1)
    cache.set("b", 2)
    cache.invalidate("a")
    cache.invalidate("never-there")
    assert cache.get("a") is None
    assert cache.get("b") == 2
    cache.clear()
    assert cache.get("b") is None


@pytest.mark.parametrize("ttl", [0, -1, -0.5])
def test_ttlcache_rejects_non_positive_ttl(ttl):
    with pytest.raises(ValueError):
        TTLCache(ttl_seconds=ttl)


def test_module_level_cache():
    assert isinstance(weather.cache.temperature_cache, TTLCache)


def test_get_temperature_caches_by_normalized_name(upstream):
    assert get_temperature("Oslo") == 4.5
    assert get_temperature(" oslo ") == 4.5
    assert get_temperature("OSLO") == 4.5
    assert len(upstream) == 1


def test_get_temperature_errors_are_not_cached(upstream):
    with pytest.raises(LookupError):
        get_temperature("Atlantis")
    with pytest.raises(LookupError):
        get_temperature("Atlantis")
    assert upstream == ["Atlantis", "Atlantis"]


def test_get_temperature_uses_module_level_cache_at_call_time(upstream, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(weather.cache, "temperature_cache", TTLCache(ttl_seconds=60, clock=clock))
    get_temperature("Lima")
    clock.now += 59
    get_temperature("Lima")
    assert len(upstream) == 1
    clock.now += 1
    get_temperature("Lima")
    assert len(upstream) == 2


def test_report_then_alerts_fetch_once_per_city(upstream):
    cities = ["Oslo", "Cairo", "Singapore"]
    assert daily_report(cities) == "Oslo: 4.5 C\nCairo: 31.5 C\nSingapore: 30.0 C"
    assert heat_alerts(cities, 30.0) == ["Cairo", "Singapore"]
    assert sorted(upstream) == sorted(cities)


def test_callers_hit_cache_filled_by_get_temperature(upstream):
    get_temperature("Cairo")
    assert heat_alerts(["Cairo"], 10) == ["Cairo"]
    assert daily_report(["cairo"]) == "cairo: 31.5 C"
    assert upstream == ["Cairo"]
