"""Money is handled as integer cents everywhere; strings only at the edges."""

from __future__ import annotations

import re

_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]{1,2}))?")


def to_cents(amount: str) -> int:
    """Parse a decimal amount such as '12.34' into integer cents (1234)."""
    match = _AMOUNT.fullmatch(amount.strip())
    if match is None:
        raise ValueError(f"not an amount: {amount!r}")
    whole, frac = match.group(1), match.group(2) or "0"
    return int(whole) * 100 + int(frac.ljust(2, "0"))


def format_cents(cents: int) -> str:
    """Format integer cents as a decimal string: 1234 -> '12.34', 5 -> '0.05'."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"
