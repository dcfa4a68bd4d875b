"""The daily sensor report."""

import csv
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _two(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))


def summarize(path: str) -> str:
    values: dict[str, list[Decimal]] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            readings = values.setdefault(row["sensor"].strip(), [])
            number = _number(row["value"] or "")
            if number is not None:
                readings.append(number)
    lines = []
    for sensor in sorted(values):
        readings = sorted(values[sensor])
        if not readings:
            lines.append(f"{sensor}: n=0\n")
            continue
        middle = len(readings) // 2
        median = readings[middle] if len(readings) % 2 else (readings[middle - 1] + readings[middle]) / 2
        lines.append(f"{sensor}: n={len(readings)} min={_two(readings[0])} max={_two(readings[-1])} "
                     f"median={_two(median)}\n")
    return "".join(lines)
