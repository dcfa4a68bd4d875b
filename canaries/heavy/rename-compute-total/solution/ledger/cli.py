"""`python -m ledger.cli ITEMS.json [--discount N]`: print the total of a JSON list of items."""

from __future__ import annotations

import argparse
import json
import sys

from ledger import calculate_total
from ledger.core import LineItem


def load_items(path: str) -> list[LineItem]:
    with open(path, encoding="utf-8") as handle:
        return [LineItem(**raw) for raw in json.load(handle)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ledger")
    parser.add_argument("items")
    parser.add_argument("--discount", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        total = calculate_total(load_items(args.items), args.discount)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
