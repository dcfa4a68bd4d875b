"""Pagination helpers for list endpoints."""

from __future__ import annotations

from typing import Sequence, TypeVar

T = TypeVar("T")


def page_count(total: int, per_page: int) -> int:
    """Number of pages needed to show ``total`` items, ``per_page`` at a time."""
    if per_page < 1:
        raise ValueError("per_page must be at least 1")
    if total < 0:
        raise ValueError("total must not be negative")
    return -(-total // per_page)


def paginate(items: Sequence[T], page: int, per_page: int) -> list[T]:
    """Items on the 1-based ``page`` when showing ``per_page`` items per page."""
    if per_page < 1:
        raise ValueError("per_page must be at least 1")
    if page < 1:
        raise ValueError("page must be at least 1")
    start = (page - 1) * per_page
    return list(items[start : start + per_page])
