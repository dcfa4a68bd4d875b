"""Word statistics."""

from __future__ import annotations

import re
from collections import Counter

_CANDIDATE = re.compile(r"[a-z0-9']+")


def count_words(text: str) -> dict[str, int]:
    """How often each lower-cased word occurs in ``text``."""
    words = (candidate.strip("'") for candidate in _CANDIDATE.findall(text.lower()))
    return dict(Counter(word for word in words if word))
