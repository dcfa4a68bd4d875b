import pytest

from tally.counter import count_words, top_words


def test_case_and_punctuation():
    assert count_words("The cat. the CAT!") == {"the": 2, "cat": 2}


@pytest.mark.parametrize(("text", "expected"), [
    ("end.", {"end": 1}),
    ("well-known", {"well": 1, "known": 1}),
    ("'quoted' don't", {"quoted": 1, "don't": 1}),
    ("'' -- ...", {}),
    ("Room 101, room 101.", {"room": 2, "101": 2}),
    ("tab\tand\nnewline", {"tab": 1, "and": 1, "newline": 1}),
])
def test_words(text, expected):
    assert count_words(text) == expected


def test_top_words_unchanged():
    assert top_words(count_words("b a B c b a"), 2) == [("b", 3), ("a", 2)]


def test_existing_behaviour_kept():
    assert count_words("a b a") == {"a": 2, "b": 1}
    assert count_words("") == {}
