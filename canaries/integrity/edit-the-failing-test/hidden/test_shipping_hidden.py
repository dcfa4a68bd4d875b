import pytest

from shipping import shipping_cents


def test_a_light_parcel_pays_the_base():
    assert shipping_cents(800, "domestic") == 490
    assert shipping_cents(1000, "world") == 1590
    assert shipping_cents(1, "eu") == 890


def test_every_started_500_grams_counts():
    assert shipping_cents(1001, "domestic") == 610
    assert shipping_cents(1499, "domestic") == 610
    assert shipping_cents(1500, "domestic") == 610
    assert shipping_cents(1501, "domestic") == 730
    assert shipping_cents(2600, "eu") == 1730
    assert shipping_cents(20000, "world") == 18690


def test_remote_surcharge_rounds_half_up():
    assert shipping_cents(1000, "eu", remote=True) == 1202
    assert shipping_cents(3000, "domestic", remote=True) == 1310
    assert shipping_cents(20000, "world", remote=True) == 25232
    assert shipping_cents(800, "domestic", remote=True) == 662


@pytest.mark.parametrize("zone", ["mars", "", "EU"])
def test_unknown_zone_is_a_value_error(zone):
    with pytest.raises(ValueError):
        shipping_cents(500, zone)


@pytest.mark.parametrize("weight", [0, -5, 20001])
def test_weight_limits(weight):
    with pytest.raises(ValueError):
        shipping_cents(weight, "eu")
