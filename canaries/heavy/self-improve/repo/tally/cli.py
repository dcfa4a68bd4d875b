"""``python -m tally.cli FILE [N]``: print the N (default 5) most frequent words of FILE."""

import sys

from tally.counter import count_words, top_words


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m tally.cli FILE [N]", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as handle:
        counts = count_words(handle.read())
    n = int(argv[1]) if len(argv) > 1 else 5
    for word, count in top_words(counts, n):
        print(f"{count:5d} {word}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
