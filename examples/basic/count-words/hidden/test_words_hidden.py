import pytest

from words import count_words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The cat and the hat.", {"the": 2, "cat": 1, "and": 1, "hat": 1}),
        ("Don't stop, don't!", {"don't": 2, "stop": 1}),
        ("'quoted' words '' ok", {"quoted": 1, "words": 1, "ok": 1}),
        ("", {}),
        ("  \n\t ", {}),
        ("R2D2 meets r2d2", {"r2d2": 2, "meets": 1}),
        ("snake_case-and-kebab", {"snake": 1, "case": 1, "and": 1, "kebab": 1}),
    ],
)
def test_count_words(text, expected):
    assert count_words(text) == expected


def test_returns_plain_dict():
    assert type(count_words("a a b")) is dict
