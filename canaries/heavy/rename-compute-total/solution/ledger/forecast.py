"""Monthly spend forecasts."""

from __future__ import annotations

from ledger.core import LineItem
from ledger.core import calculate_total as total_of


def monthly_forecast(recurring: list[LineItem], months: int, growth_percent: int = 0) -> list[int]:
    """Projected total for each of the next ``months`` months.

    Month 0 costs total_of(recurring) (calculate_total); each later month grows by
    ``growth_percent`` percent of the previous month, rounded down.
    """
    if months < 0:
        raise ValueError("months must not be negative")
    current = total_of(recurring)
    forecast = []
    for _ in range(months):
        forecast.append(current)
        current = current + current * growth_percent // 100
    return forecast
