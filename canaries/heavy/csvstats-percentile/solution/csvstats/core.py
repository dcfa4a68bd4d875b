"""Reading a numeric column and computing statistics over it."""

from __future__ import annotations

import csv
import math
from typing import Sequence


def read_column(path: str, column: str) -> list[float]:
    """The numeric values of ``column`` (by header name); blank cells are skipped.

    KeyError when the column does not exist, ValueError for a non-numeric cell.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or column not in reader.fieldnames:
            raise KeyError(column)
        values = []
        for row in reader:
            cell = (row[column] or "").strip()
            if cell:
                values.append(float(cell))
        return values


def mean(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("mean of no values")
    return sum(values) / len(values)


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100), interpolating linearly between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError("p must be between 0 and 100")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    f = math.floor(k)
    c = min(f + 1, len(ordered) - 1)
    return float(ordered[f] + (ordered[c] - ordered[f]) * (k - f))
