"""Typed accessors over a parsed config."""

from __future__ import annotations

from typing import Optional

Config = dict[str, dict[str, str]]

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def get_int(config: Config, section: str, key: str, default: Optional[int] = None) -> Optional[int]:
    """The value as an int; ``default`` when the section or key is missing; ValueError if not an int."""
    try:
        raw = config[section][key]
    except KeyError:
        return default
    return int(raw.strip())


def get_bool(config: Config, section: str, key: str, default: Optional[bool] = None) -> Optional[bool]:
    """The value as a bool (true/yes/on/1, false/no/off/0); ``default`` when missing."""
    try:
        raw = config[section][key]
    except KeyError:
        return default
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"not a boolean: {raw!r}")
