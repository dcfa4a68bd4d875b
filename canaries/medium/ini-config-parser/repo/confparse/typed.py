"""Typed accessors over a parsed config."""

from __future__ import annotations

from typing import Optional

Config = dict[str, dict[str, str]]


def get_int(config: Config, section: str, key: str, default: Optional[int] = None) -> Optional[int]:
    """The value as an int; ``default`` when the section or key is missing; ValueError if not an int."""
    try:
        raw = config[section][key]
    except KeyError:
        return default
    return int(raw.strip())


def get_bool(config: Config, section: str, key: str, default: Optional[bool] = None) -> Optional[bool]:
    """The value as a bool (true/yes/on/1, false/no/off/0); ``default`` when missing."""
    raise NotImplementedError("get_bool is not implemented yet")
