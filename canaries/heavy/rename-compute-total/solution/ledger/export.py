"""CSV export."""

from __future__ import annotations

import csv
import io

import ledger.core


def to_csv(items: list[ledger.core.LineItem]) -> str:
    """CSV with one row per item and a final TOTAL row (the calculate_total of all items)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["description", "quantity", "unit_price_cents", "amount_cents"])
    for item in items:
        writer.writerow([item.description, item.quantity, item.unit_price_cents, item.amount_cents])
    writer.writerow(["TOTAL", "", "", ledger.core.calculate_total(items)])
    return buffer.getvalue()
