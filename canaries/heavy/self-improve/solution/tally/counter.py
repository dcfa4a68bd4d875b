"""Word counting."""

import re

_WORD = re.compile(r"[a-z0-9']+")


def count_words(text: str) -> dict[str, int]:
    """How often each word occurs in ``text``: lower case, runs of letters, digits and
    apostrophes (apostrophes at either end dropped); everything else separates words."""
    counts: dict[str, int] = {}
    for match in _WORD.findall(text.lower()):
        word = match.strip("'")
        if word:
            counts[word] = counts.get(word, 0) + 1
    return counts


def top_words(counts: dict[str, int], n: int) -> list[tuple[str, int]]:
    """The ``n`` most frequent words, most frequent first; ties in alphabetical order."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]
