"""ledger: invoices, budgets and reports over priced line items.

The core entry point is ``compute_total(items, discount_percent=0)``.
"""

from ledger.core import LineItem, compute_total

__all__ = ["LineItem", "compute_total"]
