"""Small text helpers used across the project."""

from __future__ import annotations

import re
import unicodedata

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


_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str, max_length: int | None = None) -> str:
    """Turn ``text`` into a lower-case ASCII slug of letters, digits and single hyphens."""
    if max_length is not None and max_length < 1:
        raise ValueError("max_length must be at least 1")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")
    if max_length is not None:
        slug = slug[:max_length].rstrip("-")
    return slug
