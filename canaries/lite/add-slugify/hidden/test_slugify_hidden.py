import inspect

import pytest

import text_utils
from text_utils import slugify


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World!", "hello-world"),
        ("  Multiple   spaces  ", "multiple-spaces"),
        ("snake_case_name", "snake-case-name"),
        ("Crème Brûlée", "creme-brulee"),
        ("2024 Q3 -- Report", "2024-q3-report"),
        ("already-a-slug", "already-a-slug"),
        ("--leading and trailing--", "leading-and-trailing"),
        ("ALL CAPS", "all-caps"),
        ("tabs\tand\nnewlines", "tabs-and-newlines"),
        ("!!!", ""),
        ("", ""),
    ],
)
def test_slugify_examples(text, expected):
    assert slugify(text) == expected


def test_max_length_cuts_and_strips_trailing_hyphen():
    assert slugify("hello world foo", max_length=11) == "hello-world"
    assert slugify("hello world foo", max_length=6) == "hello"
    assert slugify("hello world foo", max_length=100) == "hello-world-foo"
    assert slugify("hello", max_length=1) == "h"


def test_max_length_none_is_default():
    assert slugify("a b c", None) == "a-b-c"
    assert inspect.signature(slugify).parameters["max_length"].default is None


@pytest.mark.parametrize("bad", [0, -1])
def test_max_length_below_one_raises(bad):
    with pytest.raises(ValueError):
        slugify("abc", max_length=bad)


def test_existing_helpers_unchanged():
    assert text_utils.collapse_whitespace("  a   b ") == "a b"
    assert text_utils.truncate("abcdefgh", 6) == "abc..."
    assert text_utils.truncate("abc", 6) == "abc"
