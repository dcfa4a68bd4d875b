"""Run the whole job once."""

from __future__ import annotations

from pipeline.extract import read_records
from pipeline.load import MemoryTarget, load
from pipeline.notify import notify
from pipeline.transform import add_totals, normalize
from pipeline.validate import validate


def run(lines: list[str], target: MemoryTarget, channels: list[str]) -> dict:
    """Extract, transform, validate and load ``lines``; notify ``channels``; return the stats."""
    records = read_records(lines)
    normalized = add_totals(normalize(records))
    valid = validate(normalized)
    inserted, updated = load(valid, target)
    stats = {"loaded": inserted + updated, "dropped": len(lines) - len(valid)}
    stats["notified"] = notify(stats, channels)
    return stats
