"""Load: upsert records into a target keyed by name."""

from __future__ import annotations


class MemoryTarget:
    """An in-memory stand-in for the real database table."""

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}


def load(records: list[dict], target: MemoryTarget, *, replace: bool = False) -> tuple[int, int]:
    """Upsert ``records``; with ``replace`` the target is emptied first. Returns (inserted, updated)."""
    if replace:
        print("[INFO] clearing", len(target.rows), "existing rows")
        target.rows.clear()
    inserted = updated = 0
    for record in records:
        if record["name"] in target.rows:
            updated += 1
        else:
            inserted += 1
        target.rows[record["name"]] = record
    print(f"[INFO] loaded {inserted} new and {updated} updated rows")
    return inserted, updated
