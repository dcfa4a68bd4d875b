import pytest

from confparse import ConfigError, parse_config


def test_two_sections():
    text = "[server]\nhost = localhost\nport=8080\n\n[client]\nretries = 3\n"
    assert parse_config(text) == {
        "server": {"host": "localhost", "port": "8080"},
        "client": {"retries": "3"},
    }


def test_key_outside_section():
    with pytest.raises(ConfigError) as info:
        parse_config("a = 1\n")
    assert info.value.lineno == 1
