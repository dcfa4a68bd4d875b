"""Small text helpers used across the project."""

from __future__ import annotations

import re

_WHITESPACE = re.compile(r"\s+")


def collapse_whitespace(text: str) -> str:
    """Replace every run of whitespace with a single space and strip both ends."""
    return _WHITESPACE.sub(" ", text).strip()


def truncate(text: str, width: int, suffix: str = "...") -> str:
    """Shorten ``text`` to at most ``width`` characters, ending with ``suffix`` when cut."""
    if width < len(suffix):
        raise ValueError("width must be at least len(suffix)")
    if len(text) <= width:
        return text
    return text[: width - len(suffix)] + suffix
