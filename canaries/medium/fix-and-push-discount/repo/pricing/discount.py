def apply_discount(price_cents: int, percent: int) -> int:
    """The price after a percent discount, in whole cents."""
    return price_cents + price_cents * percent // 100
