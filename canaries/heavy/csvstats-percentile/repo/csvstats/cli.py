"""`python -m csvstats.cli FILE --column NAME`: print count, mean and median of a column."""

from __future__ import annotations

import argparse
import sys

from csvstats import core


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csvstats", description="Statistics of a CSV column.")
    parser.add_argument("file", help="CSV file with a header row")
    parser.add_argument("--column", required=True, help="name of the numeric column")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        values = core.read_column(args.file, args.column)
    except KeyError:
        print(f"error: no column {args.column!r}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not values:
        print("error: the column has no values", file=sys.stderr)
        return 1
    print(f"count: {len(values)}")
    print(f"mean: {core.mean(values):.2f}")
    print(f"median: {core.median(values):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
