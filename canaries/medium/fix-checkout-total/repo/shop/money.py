"""Money is handled as integer cents everywhere; strings only at the edges."""

from __future__ import annotations


def to_cents(amount: str) -> int:
    """Parse a decimal amount such as '12.34' into integer cents (1234)."""
    amount = amount.strip()
    if "." in amount:
        whole, frac = amount.split(".", 1)
    else:
        whole, frac = amount, "0"
    return int(whole) * 100 + int(frac)


def format_cents(cents: int) -> str:
    """Format integer cents as a decimal string: 1234 -> '12.34', 5 -> '0.05'."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"
