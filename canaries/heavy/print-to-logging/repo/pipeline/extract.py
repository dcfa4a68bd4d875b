"""Extract: parse raw 'name,qty,price' lines into records."""

from __future__ import annotations


def read_records(lines: list[str]) -> list[dict]:
    """One record per well-formed line; blank lines are skipped, malformed ones reported."""
    print(f"[INFO] extracting {len(lines)} lines")
    records = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            print(f"[DEBUG] skipping blank line {number}")
            continue
        parts = line.split(",")
        if len(parts) != 3:
            print(f"[WARN] line {number}: expected 3 fields, got {len(parts)}")
            continue
        name, qty, price = (part.strip() for part in parts)
        records.append({"name": name, "qty": qty, "price": price})
    print(f"[INFO] extracted {len(records)} records")
    return records
