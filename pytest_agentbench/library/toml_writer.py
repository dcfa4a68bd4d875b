"""A small TOML writer for generated canary files (the standard library only reads TOML).

Covers what ``canary.toml`` needs: strings, integers, floats, booleans, lists of those, and one
level of tables. Strings are written so that ``tomllib`` reads back exactly the same text; long
or multi-line strings become multi-line strings so a generated prompt stays readable.
"""

from __future__ import annotations

import math
import re

# TOML forbids these raw in any string: C0 controls but tab, and DEL. Newlines are handled apart.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _escape(text: str, multiline: bool) -> str:
    text = text.replace("\\", "\\\\")
    if multiline:
        # Only a quote followed by another quote, or one that ends the text, needs escaping:
        # then no raw run of three quotes can form, nor a quote before the closing delimiter.
        text = re.sub(r'"(?="|\Z)', r'\\"', text)
    else:
        text = text.replace('"', '\\"').replace("\n", "\\n")
    # A bare CR is not a newline in TOML; and "\r\n" read back from a multi-line string
    # may be normalised by a reader, so carriage returns are always escaped.
    text = text.replace("\r", "\\r")
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def string(text: str) -> str:
    """``text`` as a TOML string literal that reads back unchanged."""
    if "\n" not in text:
        return f'"{_escape(text, multiline=False)}"'
    # Multi-line basic string: the newline right after the opening delimiter is dropped by TOML
    # readers, which keeps the text's own first line intact.
    return f'"""\n{_escape(text, multiline=True)}"""'


def value(item: object) -> str:
    if isinstance(item, bool):  # before int: bool is an int
        return "true" if item else "false"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, float):
        if not math.isfinite(item):
            return "nan" if math.isnan(item) else ("inf" if item > 0 else "-inf")
        return repr(item)  # repr keeps a '.' or an exponent, as TOML wants for floats
    if isinstance(item, str):
        return string(item)
    if isinstance(item, (list, tuple)):
        return "[" + ", ".join(value(element) for element in item) + "]"
    raise TypeError(f"cannot write {type(item).__name__} as TOML")


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else string(name)


def dumps(data: dict[str, object]) -> str:
    """Top-level keys first, then each dict value as a ``[table]``; ``None`` values are left out."""
    lines = [f"{key(k)} = {value(v)}" for k, v in data.items()
             if v is not None and not isinstance(v, dict)]
    for name, table in data.items():
        if isinstance(table, dict):
            lines += ["", f"[{key(name)}]"]
            lines += [f"{key(k)} = {value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"
