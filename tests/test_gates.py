"""Gates and aggregation, as pure functions."""

from __future__ import annotations

import pytest

from pytest_agentbench.records.stats import stability
from pytest_agentbench.report.summary import aggregate_rows
from pytest_agentbench.run.gates import Gate, GateError, evaluate, parse_gate
from pytest_agentbench.schemas.results import AttemptResult


def attempt(canary: str, outcome: str, repeat: int = 0, model: str = "m", tier: str = "lite",
            tags: tuple[str, ...] = (), turns: int = 3, tool_calls: int = 4, malformed: int = 0):
    return AttemptResult(canary=canary, tier=tier, model=model, repeat=repeat, outcome=outcome,
                         tags=list(tags), turns=turns, tool_calls=tool_calls,
                         malformed_tool_calls=malformed)


@pytest.mark.parametrize(("text", "gate"), [
    ("0.8", Gate(None, 0.8)),
    ("heavy:0.5", Gate("heavy", 0.5)),
    ("qwen2.5:14b:0.75", Gate("qwen2.5:14b", 0.75)),
])
def test_parse_gate(text, gate):
    assert parse_gate(text) == gate


@pytest.mark.parametrize("text", ["", "lots", "heavy:1.5", "heavy:-0.1"])
def test_bad_gates(text):
    with pytest.raises(GateError):
        parse_gate(text)


def test_point_and_lower_bound_gates():
    results = [attempt("a", "passed", r) for r in range(3)]
    assert evaluate(Gate(None, 0.8), results).ok  # 3/3 = 1.0
    lower = evaluate(Gate(None, 0.8), results, mode="lower")
    assert not lower.ok and round(lower.value, 4) == 0.4385  # Wilson lower bound for 3/3
    assert "short by 0.361" in lower.message


def test_scopes_and_infra_errors():
    results = [attempt("a", "passed", model="good"), attempt("a", "phantom", model="bad"),
               attempt("h", "failed", tier="heavy", model="good"), attempt("a", "infra_error", model="bad")]
    assert evaluate(Gate("good", 0.5), results).ok
    assert not evaluate(Gate("bad", 0.5), results).ok
    heavy = evaluate(Gate("heavy", 0.1), results)
    assert (heavy.n, heavy.c, heavy.ok) == (1, 0, False)
    assert evaluate(Gate("bad", 0.0), results).n == 1  # the infra error is not counted


def test_a_gate_on_zero_attempts_is_an_error():
    result = evaluate(Gate("heavy", 0.0), [attempt("a", "passed")])
    assert not result.ok and "0 attempts is an error" in result.message
    only_infra = evaluate(Gate(None, 0.0), [attempt("a", "infra_error")])
    assert not only_infra.ok


def test_stability_labels():
    assert [stability(3, 3), stability(3, 0), stability(3, 2), stability(0, 0)] == [
        "stable-pass", "stable-fail", "flaky", "no-data"]


def test_aggregate_rows():
    results = [attempt("a", "passed", 0, turns=4), attempt("a", "passed", 1, turns=6), attempt("a", "phantom", 2),
               attempt("b", "budget_turns", 0, tags=("discriminator",), malformed=2),
               attempt("b", "budget_turns", 1, tags=("discriminator",)),
               attempt("b", "infra_error", 2, tags=("discriminator",)),
               attempt("h", "passed", 0, tier="heavy")]
    rows = {row["tier"]: row for row in aggregate_rows(results, [1, 2, 3])}
    lite = rows["lite"]
    assert (lite["n"], lite["c"], lite["infra_errors"]) == (5, 2, 1)
    assert lite["pass_rate"] == 0.4 and lite["ci_low"] < 0.4 < lite["ci_high"]
    # pass@2: canary a (n=3,c=2) → 1.0; canary b (n=2,c=0) → 0.0; mean 0.5
    assert lite["pass_at_k"]["2"] == 0.5
    # pass@3 only over canaries with 3 scored repeats: just a → 1.0; pass^3 for a: 0
    assert lite["pass_at_k"]["3"] == 1.0 and lite["pass_hat_k"]["3"] == 0.0
    assert lite["stability"] == {"flaky": 1, "stable-fail": 1}
    assert lite["mean_turns_to_complete"] == 5.0
    assert lite["malformed_call_rate"] == round(2 / 20, 4)
    assert lite["budget_exceeded"]["budget_turns"] == 2
    assert lite["discriminator"] == {"n": 2, "c": 0}
    assert rows["all"]["n"] == 6 and rows["heavy"]["c"] == 1
