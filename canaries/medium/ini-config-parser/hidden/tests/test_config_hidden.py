import pytest

from confparse import ConfigError, get_bool, parse_config


def errors_of(text):
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.lineno, info.value.message, str(info.value)


def test_comments_blank_lines_and_whitespace():
    text = "# top comment\n\n  ; another\n  [ main ]  \n   Name   =   Widget  \n\n# end\n"
    assert parse_config(text) == {"main": {"name": "Widget"}}


def test_order_is_preserved():
    text = "[b]\nz = 1\na = 2\n[a]\n"
    result = parse_config(text)
    assert list(result) == ["b", "a"]
    assert list(result["b"]) == ["z", "a"]
    assert result["a"] == {}


def test_split_at_first_equals_and_no_inline_comments():
    text = "[s]\nurl = http://x/?a=1&b=2\nnote = 1 # not a comment\nempty =\n"
    assert parse_config(text) == {
        "s": {"url": "http://x/?a=1&b=2", "note": "1 # not a comment", "empty": ""}
    }


def test_quoted_values():
    text = '[s]\na = "  spaced  "\nb = ""\nc = "x\nd = "\ne = say "hi"\nf = "#keep"\n'
    assert parse_config(text) == {
        "s": {"a": "  spaced  ", "b": "", "c": '"x', "d": '"', "e": 'say "hi"', "f": "#keep"}
    }


def test_keys_lower_cased_sections_case_sensitive():
    text = "[Srv]\nHOST = a\n[srv]\nHost = b\n"
    assert parse_config(text) == {"Srv": {"host": "a"}, "srv": {"host": "b"}}


def test_empty_text():
    assert parse_config("") == {}
    assert parse_config("\n# only comments\n") == {}


@pytest.mark.parametrize(
    ("text", "lineno", "message"),
    [
        ("[a]\nx = 1\n[b\n", 3, "unterminated section header"),
        ("\n[  ]\n", 2, "empty section name"),
        ("[a]\n[b]\n\n[a]\n", 4, "duplicate section: a"),
        ("[a]\njust words\n", 2, "expected key = value"),
        ("[a]\n = 1\n", 2, "empty key"),
        ("# c\nkey = 1\n[a]\n", 2, "key outside of any section"),
        ("[a]\nkey = 1\nKEY = 2\n", 3, "duplicate key: key"),
    ],
)
def test_errors(text, lineno, message):
    got = errors_of(text)
    assert got == (lineno, message, f"line {lineno}: {message}")


def test_error_check_order():
    # no '=' is reported before "outside of any section"; an empty key too
    assert errors_of("words\n")[:2] == (1, "expected key = value")
    assert errors_of("= 1\n")[:2] == (1, "empty key")


def test_same_key_in_different_sections_is_fine():
    assert parse_config("[a]\nk = 1\n[b]\nk = 2\n") == {"a": {"k": "1"}, "b": {"k": "2"}}


CONFIG = {"flags": {"a": "true", "b": " YES ", "c": "On", "d": "1", "e": "false", "f": "No",
                    "g": "OFF", "h": "0", "bad": "maybe", "empty": ""}}


@pytest.mark.parametrize(("key", "expected"), [("a", True), ("b", True), ("c", True), ("d", True),
                                              ("e", False), ("f", False), ("g", False), ("h", False)])
def test_get_bool_values(key, expected):
    assert get_bool(CONFIG, "flags", key) is expected


def test_get_bool_missing_gives_default():
    assert get_bool(CONFIG, "flags", "zzz") is None
    assert get_bool(CONFIG, "flags", "zzz", True) is True
    assert get_bool(CONFIG, "nope", "a", False) is False


@pytest.mark.parametrize("key", ["bad", "empty"])
def test_get_bool_bad_value(key):
    with pytest.raises(ValueError):
        get_bool(CONFIG, "flags", key)


def test_round_trip_through_get_bool():
    config = parse_config("[feature]\nenabled = yes\n")
    assert get_bool(config, "feature", "enabled") is True
