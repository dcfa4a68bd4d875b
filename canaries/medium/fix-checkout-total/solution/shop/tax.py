"""Sales tax."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def tax_cents(subtotal_cents: int, rate_percent: int | float) -> int:
    """Tax on ``subtotal_cents`` at ``rate_percent`` percent, rounded to whole cents."""
    exact = Decimal(subtotal_cents) * Decimal(str(rate_percent)) / Decimal(100)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
