"""--agentbench-tier-up: the next tier up runs as the check of a model that passed its tier, and
the summary and the JSON report say per model whether it held up one tier higher — against
scripted models that pass both tiers, only the lower one, or neither."""

from __future__ import annotations

import pytest

from pytest_agentbench.run.gates import parse_gate
from pytest_agentbench.testing import ScriptedServer, call, say
from pytest_agentbench.tuning.tier_up import TierUpError, gate_for, tiers_with_next
from tests.conftest import HELLO_SOURCE

WRONG = "def hello():\n    return 'no'\n"
# model -> passes on (lite, medium, heavy)
PASSES = {"strong": (True, True, True), "brittle": (True, False, False), "weak": (False, False, False),
          "shaky": (True, True, False)}
TIER_OF = {"LITE": 0, "MEDIUM": 1, "HEAVY": 2}


def repeat_of(body: dict) -> int | None:
    """The repeat a request belongs to: by default repeat r sends the sampling field 0 + r."""
    return body.get("seed")


def by_tier(body: dict) -> dict:
    if body["messages"][-1]["role"] == "tool":
        return say(f"Done (repeat {repeat_of(body)}).")
    task = next(m["content"] for m in body["messages"] if m["role"] == "user")
    tier = TIER_OF.get(task.split(":")[0], 0)  # the preflight's probe has no tier
    # shaky passes medium on one repeat of three only
    passes = PASSES[body["model"]][tier] and not (body["model"] == "shaky" and tier == 1
                                                   and repeat_of(body) != 0)
    return call("write_file", path="hello.py", content=HELLO_SOURCE if passes else WRONG)


def make_canaries(bench) -> None:
    for tier in ("lite", "medium", "heavy"):
        bench.canary(f"{tier}-hello", tier=tier,
                     prompt=f"{tier.upper()}: create hello.py with a function hello() that returns 'hi'.")


def rows(report: dict) -> dict[str, tuple]:
    return {r["model"]: (r["tier"], r["next_tier"], (r["asked"]["c"], r["asked"]["n"]),
                         (r["next"]["c"], r["next"]["n"]), r["passed_gate"], r["held_up"], r["verdict"])
            for r in report["tier_up"]["rows"]}


def test_tier_up_runs_the_next_tier_and_says_who_held_up(bench):
    make_canaries(bench)
    with ScriptedServer(by_tier) as server:
        result = bench.run(server, "--tier", "lite", "--agentbench-tier-up", models="strong,brittle,weak",
                           repeats=3)
    report = bench.report()
    # lite and the tier above it ran; heavy, two tiers up, did not
    assert {(a["tier"], a["model"]) for a in report["attempts"]} == {
        (t, m) for t in ("lite", "medium") for m in ("strong", "brittle", "weak")}
    assert len(report["attempts"]) == 18
    result.stdout.fnmatch_lines([
        "*= agentbench tier-up =*",
        ("tier-up brittle: lite 3/3 = 1.00 [[]0.44, 1.00] -> medium 0/3 = 0.00 [[]0.00, 0.56]: "
         "did not hold up one tier higher (gate: pass rate >= 1; delta -1.00, 95% CI [[]-1.00, -0.*] worse)"),
        ("tier-up strong: lite 3/3 = 1.00 [[]0.44, 1.00] -> medium 3/3 = 1.00 [[]0.44, 1.00]: "
         "held up one tier higher (gate: pass rate >= 1; delta +0.00, 95% CI [[]-0.56, +0.56] no evidence)"),
        ("tier-up weak: lite 0/3 = 0.00 * -> medium 0/3 = 0.00 *: below the gate on lite: not a tier-up "
         "candidate*"),
        "held up: at or above the asked tier's gate on the next tier too*"])
    assert report["tier_up"]["asked"] == ["lite"] and report["tier_up"]["added"] == ["medium"]
    assert rows(report) == {
        "strong": ("lite", "medium", (3, 3), (3, 3), True, True, "no evidence"),
        "brittle": ("lite", "medium", (3, 3), (0, 3), True, False, "worse"),
        "weak": ("lite", "medium", (0, 3), (0, 3), False, None, "no evidence")}
    row = next(r for r in report["tier_up"]["rows"] if r["model"] == "brittle")
    assert set(row) == {"model", "variant", "tier", "next_tier", "gate", "gate_source", "gate_mode",
                        "passed_gate", "held_up", "asked", "next", "delta", "ci_low", "ci_high", "verdict"}
    assert row["asked"] == {"n": 3, "c": 3, "pass_rate": 1.0, "ci_low": 0.4385, "ci_high": 1.0}
    assert row["gate"] == 1.0 and row["delta"] == -1.0 and row["ci_high"] < 0


def test_the_gate_comes_from_fail_under_and_two_asked_tiers_each_get_theirs(bench):
    make_canaries(bench)
    with ScriptedServer(by_tier) as server:
        bench.run(server, "--tier", "lite,medium", "--agentbench-tier-up",
                  "--agentbench-fail-under", "0.3", models="shaky", repeats=3)
    report = bench.report()
    assert {a["tier"] for a in report["attempts"]} == {"lite", "medium", "heavy"}
    assert report["tier_up"]["added"] == ["heavy"]
    got = [(r["tier"], r["next_tier"], r["next"]["c"], r["gate"], r["passed_gate"], r["held_up"])
           for r in report["tier_up"]["rows"]]
    # lite 3/3 >= 0.3 and medium 1/3 >= 0.3: held; medium 1/3 >= 0.3, heavy 0/3 < 0.3: did not
    assert got == [("lite", "medium", 1, 0.3, True, True), ("medium", "heavy", 0, 0.3, True, False)]
    assert report["tier_up"]["rows"][0]["gate_source"] == "--agentbench-fail-under 0.3"


def test_tier_up_with_nothing_above_the_asked_tier_is_a_usage_error(bench):
    make_canaries(bench)
    with ScriptedServer(by_tier) as server:
        result = bench.run(server, "--tier", "heavy", "--agentbench-tier-up")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--agentbench-tier-up: no tier above heavy*"])


def test_without_the_option_no_tier_is_added(bench):
    make_canaries(bench)
    with ScriptedServer(by_tier) as server:
        bench.run(server, "--tier", "lite", models="strong")
    report = bench.report()
    assert {a["tier"] for a in report["attempts"]} == {"lite"} and "tier_up" not in report


def test_tiers_with_next_and_gate_for():
    assert tiers_with_next(["lite"]) == ["lite", "medium"]
    assert tiers_with_next(["lite", "medium"]) == ["lite", "medium", "heavy"]
    assert tiers_with_next(["medium", "integrity"]) == ["medium", "integrity", "heavy"]
    assert tiers_with_next([]) == []  # every tier runs already
    with pytest.raises(TierUpError, match="no tier above heavy, integrity"):
        tiers_with_next(["heavy", "integrity"])
    gates = [parse_gate("0.5"), parse_gate("lite:0.8"), parse_gate("m:medium:0.9")]
    assert gate_for("m", "lite", gates)[0] == 0.8
    assert gate_for("m", "medium", gates) == (0.9, "--agentbench-fail-under m:medium:0.9")
    assert gate_for("x", "medium", gates)[0] == 0.5
    assert gate_for("x", "lite", [])[0] == 1.0


def test_tier_up_under_xdist_runs_the_same_attempts(bench):
    """Every worker adds the next tier as its session starts: the items agree with the controller's."""
    make_canaries(bench)
    with ScriptedServer(by_tier) as server:
        result = bench.run(server, "-n", "2", "--tier", "lite", "--agentbench-tier-up", models="strong,brittle")
    result.assert_outcomes(passed=3, failed=1)
    assert {(r["model"], r["held_up"]) for r in bench.report()["tier_up"]["rows"]} == {
        ("strong", True), ("brittle", False)}
