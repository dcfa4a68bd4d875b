"""Line items and the one place where money is added up."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable


@dataclass(frozen=True)
class LineItem:
    description: str
    quantity: int
    unit_price_cents: int

    @property
    def amount_cents(self) -> int:
        return self.quantity * self.unit_price_cents


def calculate_total(items: Iterable[LineItem], discount_percent: int = 0) -> int:
    """Sum of all line amounts in cents, minus ``discount_percent`` percent (rounded half up).

    calculate_total is used by every other module in this package.
    """
    if not 0 <= discount_percent <= 100:
        raise ValueError("discount_percent must be between 0 and 100")
    gross = sum(item.amount_cents for item in items)
    net = Decimal(gross) * (100 - discount_percent) / 100
    return int(net.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def compute_total(*args, **kwargs):
    """Deprecated alias of :func:`calculate_total`."""
    warnings.warn("compute_total is deprecated; use calculate_total", DeprecationWarning, stacklevel=2)
    return calculate_total(*args, **kwargs)
