"""Statistics pinned against hand-computed and published values."""

from __future__ import annotations

import math

import pytest

from pytest_agentbench.records.stats import pass_at_k, pass_hat_k, wilson_interval


def test_pass_at_k_known_values():
    assert pass_at_k(3, 0, 1) == 0.0
    assert pass_at_k(3, 3, 3) == 1.0
    assert pass_at_k(3, 2, 1) == pytest.approx(2 / 3)
    assert pass_at_k(3, 1, 2) == pytest.approx(1 - math.comb(2, 2) / math.comb(3, 2))  # 2/3
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - math.comb(7, 5) / math.comb(10, 5))  # 0.9167
    assert pass_at_k(5, 4, 2) == 1.0  # n - c < k: every pair holds a pass


def test_pass_hat_k_known_values():
    assert pass_hat_k(3, 2, 1) == pytest.approx(2 / 3)
    assert pass_hat_k(3, 2, 2) == pytest.approx(1 / 3)
    assert pass_hat_k(3, 2, 3) == 0.0
    assert pass_hat_k(4, 4, 4) == 1.0


def test_wilson_interval_known_values():
    # Wilson 95 % for 2/3 (z = 1.95996): [0.2077, 0.9385], as in standard tables
    low, high = wilson_interval(2, 3)
    assert (round(low, 4), round(high, 4)) == (0.2077, 0.9385)
    low, high = wilson_interval(0, 3)
    assert low == 0.0 and round(high, 4) == 0.5615
    low, high = wilson_interval(3, 3)
    assert round(low, 4) == 0.4385 and high == 1.0
    low, high = wilson_interval(81, 263)  # p = 0.308; hand-computed: [0.2553, 0.3662]
    assert (round(low, 3), round(high, 3)) == (0.255, 0.366)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_narrows_with_more_data_and_brackets_the_estimate():
    small = wilson_interval(5, 10)
    large = wilson_interval(50, 100)
    assert small[0] < 0.5 < small[1] and large[0] < 0.5 < large[1]
    assert large[1] - large[0] < small[1] - small[0]


@pytest.mark.parametrize("args", [(3, 4, 1), (3, 1, 0), (3, 1, 4), (3, -1, 1)])
def test_invalid_arguments_raise(args):
    with pytest.raises(ValueError):
        pass_at_k(*args)
