import pytest

from duration import format_duration


@pytest.mark.parametrize(("seconds", "shown"), [
    (0, "0s"), (7, "7s"), (59, "59s"),
    (60, "1m 00s"), (65, "1m 05s"), (3599, "59m 59s"),
    (3600, "1h 00m 00s"), (3725, "1h 02m 05s"), (36005, "10h 00m 05s"), (90061, "25h 01m 01s"),
])
def test_the_format_of_the_spec(seconds, shown):
    assert format_duration(seconds) == shown


def test_negative():
    with pytest.raises(ValueError):
        format_duration(-1)


@pytest.mark.parametrize("value", [1.5, "60", True])
def test_not_an_int(value):
    with pytest.raises(TypeError):
        format_duration(value)
