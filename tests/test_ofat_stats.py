"""OFAT statistics: Newcombe's interval and verdict for an OFAT cell (item 2), and the
cluster-robust pooled intervals of tier and `all` rows and of the lower gate (item 6)."""

from __future__ import annotations

import pytest

from pytest_agentbench.records.stats import (
    cluster_effective_size,
    difference_verdict,
    newcombe_interval,
    wilson_interval,
)
from pytest_agentbench.report.summary import Group, aggregate_rows
from pytest_agentbench.run.gates import evaluate, parse_gate
from pytest_agentbench.schemas.results import AttemptResult


@pytest.mark.parametrize("base, new, verdict", [
    ((0, 3), (3, 3), "better"), ((3, 3), (0, 3), "worse"),
    ((1, 3), (2, 3), "no evidence"), ((0, 3), (2, 3), "no evidence"), ((2, 3), (2, 3), "no evidence"),
])
def test_at_three_repeats_only_a_full_swing_is_evidence(base, new, verdict):
    assert difference_verdict(newcombe_interval(*base, *new)) == verdict


def test_newcombe_brackets_the_difference():
    low, high = newcombe_interval(2, 10, 7, 10)
    assert low < 0.5 < high and -1 <= low and high <= 1


def test_perfectly_clustered_repeats_count_as_about_one_sample_per_canary():
    assert cluster_effective_size([(3, 3), (3, 0), (3, 3), (3, 0)]) == pytest.approx(3.0)  # k - 1
    # repeats that vary within each canary as much as a coin would: every attempt counts
    assert cluster_effective_size([(3, 2), (3, 1), (3, 2), (3, 1)]) == 12
    assert cluster_effective_size([(3, 1)]) == 3  # one canary: its repeats are the sample
    assert cluster_effective_size([(3, 3), (3, 3)]) == 6  # no variance to estimate from


def attempts(per_canary: dict[str, list[bool]]) -> list[AttemptResult]:
    return [AttemptResult(canary=canary, tier="lite", model="m", repeat=r,
                          outcome="passed" if ok else "failed", conversation_digest=f"{canary}{r}")
            for canary, outcomes in per_canary.items() for r, ok in enumerate(outcomes)]


CLUSTERED = {"a": [True] * 3, "b": [False] * 3, "c": [True] * 3, "d": [False] * 3}


def test_a_tier_row_of_clustered_canaries_is_wider_than_independent_attempts():
    [row, _all] = aggregate_rows(attempts(CLUSTERED), [1])
    assert (row["n"], row["c"], row["effective_samples"]) == (12, 6, 3.0)
    naive = wilson_interval(6, 12)
    assert row["ci_low"] < round(naive[0], 4) and row["ci_high"] > round(naive[1], 4)
    assert (row["ci_low"], row["ci_high"]) == tuple(round(v, 4) for v in wilson_interval(1.5, 3))
    assert row["interval_method"] == "wilson, cluster-robust by canary"
    # a canary's own row is one cluster: its plain Wilson interval
    single = Group(attempts({"a": [True, False, True]}))
    assert single.interval() == wilson_interval(2, 3)


def test_the_lower_gate_uses_the_clustered_interval():
    result = evaluate(parse_gate("0.2"), attempts(CLUSTERED), mode="lower")
    assert not result.ok
    assert "lower 95% bound 0.125 on 3.0 effective samples (repeats clustered by canary) (6/12)" in result.message
    independent = evaluate(parse_gate("0.2"), attempts({"a": [True, False, True], "b": [False, True, False],
                                                       "c": [True, False, True], "d": [False, True, False]}),
                           mode="lower")
    assert independent.ok  # 6/12 spread evenly: Wilson on 12, lower bound 0.25
