"""Sorting lines of text."""

from __future__ import annotations


def _number(line: str) -> float | None:
    try:
        return float(line)
    except ValueError:
        return None


def sort_lines(
    lines: list[str], *, reverse: bool = False, numeric: bool = False, unique: bool = False
) -> list[str]:
    """A new list with ``lines`` sorted as text or numbers, optionally de-duplicated."""
    if numeric:
        numbers = sorted((line for line in lines if _number(line) is not None), key=_number)
        others = sorted(line for line in lines if _number(line) is None)
        result = numbers + others
    else:
        result = sorted(lines)
    if unique:
        result = list(dict.fromkeys(result))  # first occurrence of each string, order kept
    if reverse:
        result.reverse()
    return result
