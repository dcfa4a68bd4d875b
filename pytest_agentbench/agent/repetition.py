"""Degenerate repetition: a reply that loops on the same words or lines until the output cap cuts
it (measured: SmolLM2-135M writes "It is a bit of code that is a magic bullet. It is a
bit of code ..." until max_tokens). The output-cap detail says so, instead of only "cut off".

Two signs, either is enough:

- the reply *ends* in a loop: its last words repeat one unit of 1-40 words at least
  :data:`MIN_REPEATS` times in a row over at least a third of the reply, or at least
  :data:`MANY_REPEATS` times however long the reply (a model cut off mid-loop; the last word
  counts only when it continues the loop: the cap may have cut it in two); for text without
  spaces, the same on characters
  (``=======``, ``abcabcabc``);
- one line of at least 8 characters makes up at least :data:`MIN_REPEATS` of the lines and 40 %
  of the text (a loop whose lines vary around the repeated one).

Short repeated lines of code (``}``, ``pass``) and a list with a repeated prefix do not count.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

MIN_REPEATS = 4
MANY_REPEATS = 8
MAX_UNIT_WORDS = 40
MAX_UNIT_CHARS = 20
_SHOWN = 60  # characters of the repeated unit shown in the detail


def _tail_period(tokens: Sequence[str], max_unit: int,
                 cut_last: bool = False) -> tuple[Sequence[str], int] | None:
    """``(unit, repeats)``: the shortest unit the tokens end by repeating at least
    :data:`MIN_REPEATS` times (a partial last unit allowed), read from the loop's first cycle;
    None when they do not. ``cut_last``: the last token may be cut short; it only counts when
    it continues the loop."""
    body = tokens[:-1] if cut_last else tokens
    count = len(body)
    for unit in range(1, min(max_unit, count // MIN_REPEATS) + 1):
        run = unit  # body[count - run:] repeats with period `unit`
        while run < count and body[count - run - 1] == body[count - run - 1 + unit]:
            run += 1
        end = count  # where the loop ends in ``tokens``
        if cut_last and tokens[-1] == body[-unit]:
            run, end = run + 1, count + 1
        repeats = run // unit
        if repeats >= MANY_REPEATS or (repeats >= MIN_REPEATS and run * 3 >= count):
            start = end - run
            return tokens[start:start + unit], repeats
    return None


def _sentence_first(unit: Sequence[str]) -> Sequence[str]:
    """The loop's unit turned to start a sentence when one of its words ends one: the loop
    "bullet. It is a bit of code that is a magic" reads "It is a bit of code that is a magic bullet."."""
    for offset in range(len(unit)):
        if unit[offset - 1].endswith((".", "!", "?")) and unit[offset][:1].isupper():
            return [*unit[offset:], *unit[:offset]]
    return unit


def _shown(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "..."


def degenerate_repetition(text: str | None) -> str | None:
    """What repeats in ``text`` (e.g. ``'"It is a bit of code." x 37'``), or None."""
    if not text or len(text) < 40:
        return None
    words = text.split()
    # The cap cuts mid-word ("... a magic bullet. It is a bit of code that is a magic bul"):
    # the last word is left out.
    found = _tail_period(words, MAX_UNIT_WORDS, cut_last=True) if len(words) > MIN_REPEATS else None
    if found is not None:
        unit, repeats = found
        return f'"{_shown(" ".join(_sentence_first(unit)))}" x {repeats}'
    compact = re.sub(r"\s+", "", text)
    found = _tail_period(compact, MAX_UNIT_CHARS) if len(words) < 8 else None
    if found is not None:
        unit, repeats = found
        return f'"{_shown("".join(unit))}" x {repeats}'
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines:
        line, times = Counter(lines).most_common(1)[0]
        if len(line) >= 8 and times >= MIN_REPEATS and times * len(line) * 10 >= 4 * len(text):
            return f'"{_shown(line)}" x {times} lines'
    return None

