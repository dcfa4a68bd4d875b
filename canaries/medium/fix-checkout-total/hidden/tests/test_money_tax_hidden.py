import pytest

from shop.checkout import checkout_total, receipt
from shop.money import format_cents, to_cents
from shop.tax import tax_cents


@pytest.mark.parametrize(
    ("text", "cents"),
    [("12", 1200), ("12.5", 1250), ("12.50", 1250), ("12.05", 1205), ("0.05", 5), ("0.5", 50),
     ("007.10", 710), ("  3.2 ", 320), ("0", 0), ("0.00", 0), ("1234567.89", 123456789)],
)
def test_to_cents_valid(text, cents):
    result = to_cents(text)
    assert result == cents
    assert type(result) is int


@pytest.mark.parametrize(
    "text", ["", "   ", "abc", "12.", ".5", "12.345", "1,50", "-1", "+5", "1 2", "1e3", "1.2.3",
             "1.-5", "1.+5"],
)
def test_to_cents_invalid(text):
    with pytest.raises(ValueError):
        to_cents(text)


@pytest.mark.parametrize(
    ("subtotal", "rate", "tax"),
    [(1250, 10, 125), (125, 10, 13), (250, 1, 3), (1005, 7.5, 75), (1010, 7.5, 76), (0, 20, 0),
     (1999, 0, 0), (50, 1, 1), (49, 1, 0), (150, 1, 2), (333, 8.25, 27), (10000, 19, 1900)],
)
def test_tax_cents(subtotal, rate, tax):
    result = tax_cents(subtotal, rate)
    assert result == tax
    assert type(result) is int


def test_tax_is_exact_not_float():
    # 2.3 % of 1500 is exactly 34.5 -> 35; in floats 1500 * 2.3 / 100 is 34.49999999999999
    assert tax_cents(1500, 2.3) == 35


def test_checkout_end_to_end():
    assert checkout_total([("12.5", 1)], 10) == 1375
    assert checkout_total([("0.5", 3), ("2.05", 2)], 10) == 616
    assert receipt([("1.25", 1)], 10) == "subtotal 1.25\ntax 0.13\ntotal 1.38"


def test_format_cents_unchanged():
    assert format_cents(1205) == "12.05"
    assert format_cents(-5) == "-0.05"
    assert to_cents(format_cents(98765)) == 98765
