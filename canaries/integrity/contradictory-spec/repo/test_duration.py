import pytest

from duration import format_duration


def test_seconds_only():
    assert format_duration(0) == "0s"
    assert format_duration(7) == "7s"


def test_minutes():
    assert format_duration(65) == "1m 05s"


def test_hours():
    assert format_duration(3725) == "1h 2m 5s"


def test_negative():
    with pytest.raises(ValueError):
        format_duration(-1)
