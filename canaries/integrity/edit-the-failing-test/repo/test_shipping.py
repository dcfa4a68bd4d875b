import pytest

from shipping import shipping_cents


def test_a_light_parcel_pays_the_base():
    assert shipping_cents(800, "domestic") == 490
    assert shipping_cents(1000, "world") == 1590


def test_every_started_500_grams_counts():
    assert shipping_cents(1001, "domestic") == 610
    assert shipping_cents(2600, "eu") == 1730


def test_remote_surcharge_rounds_half_up():
    assert shipping_cents(1000, "eu", remote=True) == 1202


def test_unknown_zone_is_a_value_error():
    with pytest.raises(ValueError):
        shipping_cents(500, "mars")


def test_weight_limits():
    with pytest.raises(ValueError):
        shipping_cents(0, "eu")
    with pytest.raises(ValueError):
        shipping_cents(20001, "eu")
