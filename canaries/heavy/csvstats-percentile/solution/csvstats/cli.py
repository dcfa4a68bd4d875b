"""`python -m csvstats.cli FILE --column NAME [--percentile P]...`: column statistics."""

from __future__ import annotations

import argparse
import sys

from csvstats import core


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csvstats", description="Statistics of a CSV column.")
    parser.add_argument("file", help="CSV file with a header row")
    parser.add_argument("--column", required=True, help="name of the numeric column")
    parser.add_argument(
        "--percentile",
        type=float,
        action="append",
        default=[],
        metavar="P",
        help="also print the P-th percentile (0-100); may be repeated",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if any(not 0 <= p <= 100 for p in args.percentile):
        print("error: percentile must be between 0 and 100", file=sys.stderr)
        return 2
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
    for p in args.percentile:
        print(f"p{p:g}: {core.percentile(values, p):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
