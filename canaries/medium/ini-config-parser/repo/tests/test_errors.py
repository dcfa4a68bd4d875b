from confparse import ConfigError


def test_config_error_str_and_attributes():
    err = ConfigError(3, "empty key")
    assert err.lineno == 3
    assert err.message == "empty key"
    assert str(err) == "line 3: empty key"
