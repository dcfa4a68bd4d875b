"""Budget checks."""

from __future__ import annotations

from .core import LineItem, compute_total


def remaining(items: list[LineItem], budget_cents: int) -> int:
    """How much of the budget is left (negative when over budget)."""
    return budget_cents - compute_total(items)


def over_budget(items: list[LineItem], budget_cents: int) -> bool:
    # compute_total already applies no discount here: budgets are gross
    return compute_total(items) > budget_cents
