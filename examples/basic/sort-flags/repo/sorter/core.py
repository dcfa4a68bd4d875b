"""Sorting lines of text."""

from __future__ import annotations


def sort_lines(lines: list[str], *, reverse: bool = False) -> list[str]:
    """A new list with ``lines`` sorted as text (descending when ``reverse``)."""
    return sorted(lines, reverse=reverse)
