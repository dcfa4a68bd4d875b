"""`python -m sorter.cli FILE [--reverse]`: print the lines of FILE sorted."""

from __future__ import annotations

import argparse
import sys

from sorter.core import sort_lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sorter")
    parser.add_argument("file")
    parser.add_argument("--reverse", action="store_true")
    args = parser.parse_args(argv)
    with open(args.file, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    for line in sort_lines(lines, reverse=args.reverse):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
