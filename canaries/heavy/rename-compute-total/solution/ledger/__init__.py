"""ledger: invoices, budgets and reports over priced line items.

The core entry point is ``calculate_total(items, discount_percent=0)``; ``compute_total`` is a
deprecated alias of it.
"""

from ledger.core import LineItem, calculate_total, compute_total

__all__ = ["LineItem", "calculate_total", "compute_total"]
