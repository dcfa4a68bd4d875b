import pytest

from durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", 45),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("2d", 172800),
        ("1d 2h 3m 4s", 93784),
        ("1d2h3m4s", 93784),
        (" 90m ", 5400),
        ("0s", 0),
        ("1h  5s", 3605),
        ("1d\t1s", 86401),
        ("120s", 120),
        ("007m", 420),
    ],
)
def test_valid_durations(text, expected):
    result = parse_duration(text)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    "text",
    ["", "   ", "45", "1x", "1H", "h", "1h 30", "-5s", "+5s", "1.5h", "1m1h", "1h1h", "1 h", "s1",
     "1h,30m", "1hh"],
)
def test_invalid_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("n", [0, 1, 59, 60, 61, 3599, 3600, 3661, 86399, 86400, 90061, 10**7])
def test_round_trip(n):
    assert parse_duration(format_duration(n)) == n
