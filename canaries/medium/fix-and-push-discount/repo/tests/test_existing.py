from pricing.discount import apply_discount


def test_no_discount_keeps_the_price():
    assert apply_discount(500, 0) == 500
