"""Validate: keep records with a sensible quantity."""

from __future__ import annotations

MAX_QTY = 1000


def validate(records: list[dict]) -> list[dict]:
    """Records whose quantity is in 1..MAX_QTY; every dropped record is reported."""
    valid = []
    for record in records:
        if record["qty"] <= 0:
            print(f"[WARN] dropping {record['name']}: quantity {record['qty']} is not positive")
        elif record["qty"] > MAX_QTY:
            print(f"[ERROR] dropping {record['name']}: quantity {record['qty']} exceeds {MAX_QTY}")
        else:
            valid.append(record)
    if not valid:
        print("[WARN] no valid records left")
    print(f"[INFO] {len(valid)} valid records")
    return valid
