def apply_discount(price_cents: int, percent: int) -> int:
    """The price after a percent discount, rounded down to whole cents."""
    if price_cents < 0:
        raise ValueError(f"price_cents must not be negative, not {price_cents}")
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must be within 0..100, not {percent}")
    return price_cents * (100 - percent) // 100
