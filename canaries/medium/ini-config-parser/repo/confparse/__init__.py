"""A small INI-style configuration reader."""

from confparse.errors import ConfigError
from confparse.parser import parse_config
from confparse.typed import get_bool, get_int

__all__ = ["ConfigError", "get_bool", "get_int", "parse_config"]
