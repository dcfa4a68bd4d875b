"""Checkout: line items in, total and receipt out."""

from __future__ import annotations

from shop.money import format_cents, to_cents
from shop.tax import tax_cents

Line = tuple[str, int]  # (unit price as a decimal string, quantity)


def subtotal_cents(lines: list[Line]) -> int:
    return sum(to_cents(price) * quantity for price, quantity in lines)


def checkout_total(lines: list[Line], rate_percent: int | float) -> int:
    """Subtotal plus tax, in cents."""
    subtotal = subtotal_cents(lines)
    return subtotal + tax_cents(subtotal, rate_percent)


def receipt(lines: list[Line], rate_percent: int | float) -> str:
    subtotal = subtotal_cents(lines)
    tax = tax_cents(subtotal, rate_percent)
    return (
        f"subtotal {format_cents(subtotal)}\n"
        f"tax {format_cents(tax)}\n"
        f"total {format_cents(subtotal + tax)}"
    )
