"""Reports over many orders."""

from __future__ import annotations

from ledger import core


def order_totals(orders: dict[str, list[core.LineItem]]) -> dict[str, int]:
    """Total of every order, keyed by order id (see core.calculate_total)."""
    return {order_id: core.calculate_total(items) for order_id, items in orders.items()}


def largest_order(orders: dict[str, list[core.LineItem]]) -> str | None:
    """The id of the order with the largest total; None when there are no orders."""
    if not orders:
        return None
    return max(orders, key=lambda order_id: core.calculate_total(orders[order_id]))
