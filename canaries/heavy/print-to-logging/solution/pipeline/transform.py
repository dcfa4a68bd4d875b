"""Transform: convert field types and compute line totals."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def normalize(records: list[dict]) -> list[dict]:
    """Lower-case names, int quantities, float prices; records that do not convert are dropped."""
    out = []
    for record in records:
        try:
            qty = int(record["qty"])
            price = float(record["price"])
        except ValueError as exc:
            logger.error(f"cannot convert {record['name']!r}: {exc}")
            continue
        out.append({"name": record["name"].lower(), "qty": qty, "price": price})
    logger.debug("normalized %d of %d records", len(out), len(records))
    return out


def add_totals(records: list[dict]) -> list[dict]:
    """Add 'total' = qty * price (rounded to cents) to every record, in place."""
    for record in records:
        record["total"] = round(record["qty"] * record["price"], 2)
    logger.debug("totals added")
    return records
