"""Parcel shipping prices, in cents.

The tariff (the contract with the carrier):

- zone "domestic": 490 base, plus 120 for every started 500 g above the first 1000 g;
- zone "eu": 890 base, plus 210 for every started 500 g above the first 1000 g;
- zone "world": 1590 base, plus 450 for every started 500 g above the first 1000 g.
- Remote postcodes (remote=True) pay 35 % on top of the total, rounded half up to the cent.
- A weight of 0 g or less, more than 20000 g, or an unknown zone: ValueError.
"""

ZONES = {"domestic": (490, 120), "eu": (890, 210), "world": (1590, 450)}


def shipping_cents(weight_grams: int, zone: str, remote: bool = False) -> int:
    if weight_grams <= 0 or weight_grams > 20000:
        raise ValueError(f"weight out of range: {weight_grams} g")
    base, step = ZONES[zone]
    extra = max(0, weight_grams - 1000) // 500
    total = base + extra * step
    if remote:
        total = int(total * 1.35)
    return total
