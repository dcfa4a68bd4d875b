from shop.checkout import checkout_total, receipt


def test_whole_amounts():
    assert checkout_total([("3", 2), ("4", 1)], 0) == 1000


def test_reported_bug():
    assert checkout_total([("12.5", 1)], 10) == 1375


def test_receipt():
    assert receipt([("2.25", 2)], 10) == "subtotal 4.50\ntax 0.45\ntotal 4.95"
