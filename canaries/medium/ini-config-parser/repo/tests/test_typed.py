import pytest

from confparse import get_int

CONFIG = {"server": {"port": "8080", "name": "x"}}


def test_get_int():
    assert get_int(CONFIG, "server", "port") == 8080


def test_get_int_missing_gives_default():
    assert get_int(CONFIG, "server", "workers", 4) == 4
    assert get_int(CONFIG, "nope", "port") is None


def test_get_int_bad_value():
    with pytest.raises(ValueError):
        get_int(CONFIG, "server", "name")
