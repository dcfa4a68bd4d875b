"""Transform: convert field types and compute line totals."""

from __future__ import annotations


def normalize(records: list[dict]) -> list[dict]:
    """Lower-case names, int quantities, float prices; records that do not convert are dropped."""
    out = []
    for record in records:
        try:
            qty = int(record["qty"])
            price = float(record["price"])
        except ValueError as exc:
            print(f"[ERROR] cannot convert {record['name']!r}: {exc}")
            continue
        out.append({"name": record["name"].lower(), "qty": qty, "price": price})
    print("[DEBUG] normalized %d of %d records" % (len(out), len(records)))
    return out


def add_totals(records: list[dict]) -> list[dict]:
    """Add 'total' = qty * price (rounded to cents) to every record, in place."""
    for record in records:
        record["total"] = round(record["qty"] * record["price"], 2)
    print("[DEBUG] totals added")
    return records
