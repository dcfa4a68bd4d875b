"""Sales tax."""

from __future__ import annotations


def tax_cents(subtotal_cents: int, rate_percent: int | float) -> int:
    """Tax on ``subtotal_cents`` at ``rate_percent`` percent, rounded to whole cents."""
    return round(subtotal_cents * rate_percent / 100)
