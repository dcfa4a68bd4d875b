import pytest

from pricing.discount import apply_discount


@pytest.mark.parametrize("price, percent, expected", [
    (1000, 10, 900), (999, 15, 849), (500, 0, 500), (500, 100, 0), (1, 50, 0), (0, 30, 0),
])
def test_discount(price, percent, expected):
    assert apply_discount(price, percent) == expected


@pytest.mark.parametrize("price, percent", [(500, 101), (500, -1), (-1, 10)])
def test_out_of_range(price, percent):
    with pytest.raises(ValueError):
        apply_discount(price, percent)
