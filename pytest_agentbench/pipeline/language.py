"""Language drift (the failure #9: Thai in a REFLECT output): is a phase's free text in the
canary's ``language``?

Identification is **py3langid** (a maintained fork of langid.py: a naive-Bayes model over byte
n-grams, 97 languages). Chosen for this job because it is offline (the model ships inside the
wheel: 4.6 MB, pure Python + numpy, which matplotlib already brings), deterministic (no sampling:
``langdetect`` draws random n-grams and needs a global seed, and called short English "et"),
right on short text (measured below), and loaded once in 0.36 s. ``lingua-language-detector`` is
more accurate on very short text but its wheel is 96 MB; fastText's ``lid.176`` models are
downloaded at run time (no network here); ``pycld2`` (9.9 MB, C) missed a plain Russian sentence.

Two rules, per free-text string of the output (each field is judged on its own, so one Thai
rationale among English fields is caught):

1. **script**: letters of a script the expected language does not use (Thai, Han, Hangul,
   Cyrillic, Arabic... in an English pipeline) — at least ``MIN_FOREIGN_LETTERS`` of them — are
   drift, whatever the classifier says about the mixed string;
2. **classifier**: a string of at least ``MIN_WORDS`` words (code, paths and identifiers removed)
   that py3langid puts in another language with probability ≥ ``MIN_PROBABILITY``.

A quotation of a few foreign words — up to ``MAX_QUOTED_WORDS`` between quotes (``"…"``,
``'…'``, ``“…”``, ``‘…’``, ``«…»``, ``„…“``, ``「…」``), backticks or italics (``*…*``, ``_…_``,
``<i>``/``<em>``) — is no drift: it is left out before both rules (an English text saying the
French say "bon appétit" is English). A longer quotation, and any unquoted foreign text, is judged
as usual, so a paragraph written in another language is still drift.

Measured (``tests/test_pipeline_units.py``): English technical sentences, Thai, Chinese,
Russian, German and Spanish sentences, a Thai rationale inside English text, all classified right.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

MAX_QUOTED_WORDS = 4  # a quotation this short is no drift (see the module docstring)
MIN_FOREIGN_LETTERS = 4
MIN_WORDS = 5
MIN_LETTERS = 25
MIN_PROBABILITY = 0.9
SAMPLE_CHARS = 80

SCRIPTS: dict[str, tuple[tuple[int, int], ...]] = {
    "Latin": ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F)),
    "Greek": ((0x370, 0x3FF),),
    "Cyrillic": ((0x400, 0x4FF),),
    "Hebrew": ((0x590, 0x5FF),),
    "Arabic": ((0x600, 0x6FF), (0x750, 0x77F)),
    "Devanagari": ((0x900, 0x97F),),
    "Thai": ((0xE00, 0xE7F),),
    "Hangul": ((0x1100, 0x11FF), (0xAC00, 0xD7AF)),
    "Hiragana": ((0x3040, 0x309F),),
    "Katakana": ((0x30A0, 0x30FF),),
    "Han": ((0x3400, 0x4DBF), (0x4E00, 0x9FFF)),
}
# The scripts each language's text uses; a language not listed is taken to be written in Latin.
LANGUAGE_SCRIPTS: dict[str, set[str]] = {
    **{code: {"Cyrillic"} for code in ("ru", "uk", "bg", "be", "mk", "sr", "kk", "ky", "mn")},
    "el": {"Greek"}, "he": {"Hebrew"}, "yi": {"Hebrew"},
    **{code: {"Arabic"} for code in ("ar", "fa", "ur", "ps", "ug")},
    **{code: {"Devanagari"} for code in ("hi", "mr", "ne")},
    "th": {"Thai"}, "zh": {"Han"}, "ja": {"Han", "Hiragana", "Katakana"}, "ko": {"Hangul", "Han"},
}

# What is not prose: fenced blocks, `code`, URLs, paths, file names, identifiers.
_NOT_PROSE = re.compile(
    r"```.*?```|`[^`]*`|https?://\S+|\S*[/\\]\S*|\b\w+\.\w+\b|\b\w*_\w*\b|\b[a-z]+[A-Z]\w*\b|\w+\(\)",
    re.DOTALL)
_WORD = re.compile(r"[^\W\d_]+")
# Quoted, backticked or italic spans: (opening, closing) pairs. A straight quote or an italic
# marker opens only after a non-word character and closes only before one ("don't" opens nothing).
_PAIRS = [('"', '"'), ("'", "'"), ("\u201c", "\u201d"), ("\u201e", "\u201c"), ("\u2018", "\u2019"),
          ("\u00ab", "\u00bb"), ("\u300c", "\u300d"), ("*", "*"), ("_", "_"), ("`", "`")]
_QUOTED = re.compile("|".join(
    [rf"(?<!\w){re.escape(a)}(?=\S)[^{re.escape(a + b)}\n]{{1,80}}(?<=\S){re.escape(b)}(?!\w)"
     for a, b in _PAIRS]
    + [r"<(i|em)>[^<\n]{1,80}</\1>"]), re.IGNORECASE)


def script_of(char: str) -> str | None:
    code = ord(char)
    for name, ranges in SCRIPTS.items():
        if any(low <= code <= high for low, high in ranges):
            return name
    return None


def expected_scripts(language: str) -> set[str]:
    return LANGUAGE_SCRIPTS.get(language, {"Latin"})


@functools.lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


# py3langid's labels for varieties reported under their macrolanguage (Wu, Cantonese: Chinese).
ALIASES = {"wuu": "zh", "yue": "zh"}


def identify(text: str) -> tuple[str, float]:
    """``(language code, probability)`` by py3langid."""
    code, probability = _identifier().classify(text)
    return ALIASES.get(str(code), str(code)), float(probability)


def unquoted(text: str) -> str:
    """``text`` without its short quotations (up to ``MAX_QUOTED_WORDS`` words between quotes,
    backticks or italic markers): quoting a few foreign words is not writing in that language."""
    def drop(match: re.Match[str]) -> str:
        inner = match.group(0)
        return " " if len(inner.split()) <= MAX_QUOTED_WORDS else inner
    return _QUOTED.sub(drop, text)


def prose(text: str) -> str:
    """``text`` without short quotations, code, paths and identifiers: what a language can be
    read from."""
    return re.sub(r"\s+", " ", _NOT_PROSE.sub(" ", unquoted(text))).strip()


@dataclass
class LanguageVerdict:
    language: str | None  # what the free text as a whole reads as (None: too little text)
    drift: bool
    evidence: str = ""  # the drifting text, shortened, and why


def free_text(value: Any, skip: frozenset[str] = frozenset()) -> list[str]:
    """Every string of a JSON value, but those under a key in ``skip`` (claim fields: paths
    and commands are not prose)."""
    found: list[str] = []
    if isinstance(value, str):
        found.append(value)
    elif isinstance(value, list):
        for item in value:
            found += free_text(item, skip)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in skip:
                found += free_text(item, skip)
    return found


def judge(texts: list[str], language: str) -> LanguageVerdict:
    """Whether ``texts`` (the output's strings, or the final message) drift from ``language``."""
    allowed = expected_scripts(language) | {"Latin"}  # identifiers are Latin in any language
    cleaned = [prose(text) for text in texts]
    whole = " ".join(text for text in cleaned if text)
    detected = None
    if len(_WORD.findall(whole)) >= 2:
        code, probability = identify(whole)
        detected = code if probability >= 0.5 else None
    for text in [*cleaned, whole]:  # each string, then all of them (many short strings)
        foreign = [ch for ch in text if (script_of(ch) or "Latin") not in allowed]
        if len(foreign) >= MIN_FOREIGN_LETTERS:
            scripts = sorted({script_of(ch) or "?" for ch in foreign})
            code = identify("".join(ch if ch in foreign else " " for ch in text))[0]
            return LanguageVerdict(code, True, f"{'/'.join(scripts)} text ({code}): {_short(text)}")
        words = _WORD.findall(text)
        if len(words) >= MIN_WORDS and sum(map(len, words)) >= MIN_LETTERS:
            code, probability = identify(text)
            if code != language and probability >= MIN_PROBABILITY:
                return LanguageVerdict(code, True, f"{code} ({probability:.2f}): {_short(text)}")
    return LanguageVerdict(detected, False)


def _short(text: str) -> str:
    return text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS - 1] + "…"
