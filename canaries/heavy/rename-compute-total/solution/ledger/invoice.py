"""Plain-text invoices."""

from __future__ import annotations

from ledger.core import LineItem, calculate_total


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def render_invoice(customer: str, items: list[LineItem], discount_percent: int = 0) -> str:
    """An invoice: one line per item, then the total as computed by calculate_total."""
    lines = [f"Invoice for {customer}"]
    for item in items:
        lines.append(f"  {item.quantity} x {item.description} @ {_money(item.unit_price_cents)}")
    if discount_percent:
        lines.append(f"  discount {discount_percent}%")
    lines.append(f"Total: {_money(calculate_total(items, discount_percent))}")
    return "\n".join(lines)
