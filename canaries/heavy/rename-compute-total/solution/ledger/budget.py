"""Budget checks."""

from __future__ import annotations

from .core import LineItem, calculate_total


def remaining(items: list[LineItem], budget_cents: int) -> int:
    """How much of the budget is left (negative when over budget)."""
    return budget_cents - calculate_total(items)


def over_budget(items: list[LineItem], budget_cents: int) -> bool:
    # calculate_total already applies no discount here: budgets are gross
    return calculate_total(items) > budget_cents
