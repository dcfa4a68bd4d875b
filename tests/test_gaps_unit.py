"""Unit tests for the pieces behind "nothing lost, nothing blamed on the wrong party": gate scopes
and what a gate has not seen, the controller's ledger, run plans, and the starting-repo checks."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pytest_agentbench.attempt.identity import Attempt
from pytest_agentbench.records.ledger import (
    Ledger,
    describe_difference,
    merge_plans,
    parse_attempt_nodeid,
    plan_difference,
)
from pytest_agentbench.records.store import ResultStore
from pytest_agentbench.run.gates import Gate, MissingAttempt, evaluate, parse_gate, split_scope
from pytest_agentbench.schemas.models import ModelSpec
from pytest_agentbench.schemas.repo_check import repo_problems
from pytest_agentbench.schemas.results import AttemptResult


def attempt(outcome: str, model: str = "m", tier: str = "lite", canary: str = "a", repeat: int = 0):
    return AttemptResult(canary=canary, tier=tier, model=model, repeat=repeat, outcome=outcome)


# -- gate scopes -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "model", "tier", "threshold"), [
    ("0.8", None, None, 0.8),
    ("heavy:0.6", None, "heavy", 0.6),
    ("qwen2.5:14b:0.5", "qwen2.5:14b", None, 0.5),
    ("qwen2.5:14b:heavy:0.8", "qwen2.5:14b", "heavy", 0.8),
    ("llama3.1:8b-instruct-q4_K_M:lite:1", "llama3.1:8b-instruct-q4_K_M", "lite", 1.0),
    ("plain:medium:0", "plain", "medium", 0.0),
    ("heavyweight:0.5", "heavyweight", None, 0.5),  # only a whole known tier is a tier
])
def test_gate_scopes(text, model, tier, threshold):
    gate = parse_gate(text)
    assert (gate.model, gate.tier, gate.threshold) == (model, tier, threshold)


def test_split_scope_of_nothing():
    assert split_scope(None) == (None, None) and split_scope("") == (None, None)


def test_a_model_and_tier_gate_selects_both():
    results = [attempt("passed", "q:7b", "heavy"), attempt("failed", "q:7b", "lite"),
               attempt("failed", "other", "heavy")]
    result = evaluate(parse_gate("q:7b:heavy:1"), results)
    assert (result.n, result.c, result.ok) == (1, 1, True)
    assert result.message == "passed q:7b:heavy pass rate >= 1: pass rate 1.000 (1/1)"


def test_bad_gate_names_the_accepted_forms():
    with pytest.raises(ValueError, match=r"\[MODEL:\]\[TIER:\]RATE"):
        parse_gate("heavy:lots")


# -- what a gate has not seen ----------------------------------------------------------------------

FOUR_DOWN = [attempt("passed")] + [attempt("infra_error", canary=f"d{i}") for i in range(4)]


def test_four_infra_errors_and_one_pass_no_longer_clear_a_gate():
    result = evaluate(Gate(None, 0.8), FOUR_DOWN)
    assert not result.ok
    assert result.message == (
        "FAILED pass rate >= 0.8: pass rate 1.000 (1/1); 4 of 5 attempts in scope are infra_error/missing "
        "(0.80 > max 0.00): the gate cannot vouch for what it never saw")
    assert (result.total, result.infra_errors, result.missing) == (5, 4, 0)


@pytest.mark.parametrize(("rate", "ok"), [(0.8, True), (1.0, True), (0.79, False)])
def test_the_tolerance_is_a_fraction_of_the_scope(rate, ok):
    assert evaluate(Gate(None, 0.8), FOUR_DOWN, max_infra_rate=rate).ok is ok


def test_infra_errors_outside_the_scope_do_not_count():
    results = [attempt("passed", model="good"), attempt("infra_error", model="flaky")]
    assert evaluate(Gate("good", 1), results).ok
    assert not evaluate(Gate("flaky", 0), results).ok


def test_a_missing_attempt_fails_every_gate_and_is_named():
    missing = [MissingAttempt(f"c.toml::c[m-r{i}]", "other", "heavy") for i in range(5)]
    result = evaluate(Gate("m", 0.5), [attempt("passed")], missing=missing, max_infra_rate=1)
    assert not result.ok and result.missing == 0  # another model's gap, still fails this gate
    assert ("5 collected attempt(s) ended without a result (c.toml::c[m-r0], c.toml::c[m-r1], "
            "c.toml::c[m-r2] and 2 more): the run is incomplete") in result.message


def test_a_missing_attempt_of_unknown_model_and_tier_counts_in_every_scope():
    result = evaluate(Gate("m:lite", 0), [attempt("passed")], missing=[MissingAttempt("x")])
    assert (result.total, result.missing) == (2, 1)
    assert "1 of 2 attempts in scope are infra_error/missing (0.50 > max 0.00)" in result.message


def test_a_gate_on_zero_attempts_still_says_what_it_did_not_see():
    result = evaluate(Gate(None, 0), [attempt("infra_error")])
    assert result.message == ("FAILED pass rate >= 0: no scored attempts in scope - a gate on 0 attempts "
                              "is an error; 1 of 1 attempts in scope are infra_error/missing (1.00 > max "
                              "0.00): the gate cannot vouch for what it never saw")


# -- the ledger ------------------------------------------------------------------------------------

MODELS = [ModelSpec(name="qwen2.5:14b", base_url="http://x/v1", model="qwen2.5:14b"),
          ModelSpec(name="m", base_url="http://x/v1", model="m", variant="temperature=0.7")]


@pytest.mark.parametrize(("nodeid", "expected"), [
    ("canaries/lite/x/canary.toml::add-slugify[qwen2.5:14b-r2]",
     Attempt("canaries/lite/x/canary.toml::add-slugify[qwen2.5:14b-r2]", "add-slugify",
             "qwen2.5:14b", "base", repeat=2)),
    ("tests/test_py.py::test_hello[m-temperature=0.7-r0]",
     Attempt("tests/test_py.py::test_hello[m-temperature=0.7-r0]", "test_py.test_hello",
             "m", "temperature=0.7", repeat=0)),
    ("tests/test_py.py::TestK::test_hello[m-temperature=0.7-r0]",
     Attempt("tests/test_py.py::TestK::test_hello[m-temperature=0.7-r0]", "test_py.test_hello",
             "m", "temperature=0.7", repeat=0)),
    ("tests/test_other.py::test_plain[unknown-r0]", None),  # not one of this run's models
    ("tests/test_other.py::test_plain", None),
    ("canaries/x/canary.toml::x[m-r0]", None),  # `m` runs only as its temperature variant
])
def test_attempts_from_node_ids(nodeid, expected):
    assert parse_attempt_nodeid(nodeid, MODELS) == expected


def test_an_attempt_is_one_frozen_identity_that_reads_as_a_dict():
    attempt = Attempt("c.toml::c[m-mini-r1]", "c", "m", agent="mini", repeat=1, tier="lite")
    assert attempt.key == ("c", "m", "base via mini", 1)  # the database's key: agent in the variant slot
    assert attempt["model"] == "m" and dict(attempt)["tier"] == "lite"
    assert {**attempt.at(Path("/w"))}["worktree"] == "/w" and attempt.worktree is None
    assert attempt == Attempt("c.toml::c[m-mini-r1]", "c", "m", agent="mini", repeat=1, tier="lite")
    assert len({attempt, attempt.with_tier("lite")}) == 1
    with pytest.raises(AttributeError):
        attempt.model = "other"  # type: ignore[misc]
    with pytest.raises(KeyError):
        attempt["budget"]


def test_the_ledger_knows_what_is_missing_and_what_never_ran():
    ledger = Ledger()
    for repeat in range(3):
        ledger.expect(Attempt(f"c.toml::c[m-r{repeat}]", "c", "m", repeat=repeat))
    ledger.saw_report("c.toml::c[m-r0]", True, {"lite": 1})
    ledger.saw_report("c.toml::c[m-r1]", False, {"c[m-r1]": 1, "medium": 1})  # e.g. a setup error
    assert [m.nodeid for m in ledger.missing()] == ["c.toml::c[m-r1]", "c.toml::c[m-r2]"]
    assert ledger.missing()[0] == MissingAttempt("c.toml::c[m-r1]", "m", "medium")  # tier from keywords
    assert ledger.never_ran() == ["c.toml::c[m-r2]"]
    assert ledger.plan() == {"canaries": ["c"], "models": ["m"]}


def test_plans_differences_and_warnings():
    before = {"canaries": ["a", "b"], "models": ["m1"]}
    now = {"canaries": ["a", "c"], "models": ["m1", "m2/temperature=0"]}
    assert plan_difference(before, now, "canaries") == {"added": ["c"], "missing": ["b"]}
    assert merge_plans(before, now) == {"canaries": ["a", "b", "c"], "models": ["m1", "m2/temperature=0"]}
    assert describe_difference("R", "canaries", plan_difference(before, now, "canaries")) == (
        "agentbench: WARNING: resuming run R with different canaries than it had - added: c; missing: b")
    assert describe_difference("R", "models", plan_difference(before, before, "models")) is None


def test_the_store_keeps_a_plan_and_derives_one_for_older_runs(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        now = datetime.now(timezone.utc)
        store.start_run("old", now, {}, {}, {"m1": {}})
        store.add_attempt("old", AttemptResult(canary="a", tier="lite", model="m2", variant="seed=1",
                                               repeat=0, outcome="passed"))
        assert store.plan("old") == {"canaries": ["a"], "models": ["m1", "m2/seed=1"]}
        store.start_run("new", now, {"repeats": 3}, {}, {"m1": {}})
        store.update_settings("new", plan={"canaries": ["a", "b"], "models": ["m1"]})
        store.update_settings("new", missing=["x"])
        assert store.plan("new") == {"canaries": ["a", "b"], "models": ["m1"]}
        assert store.run("new").settings == {"repeats": 3, "plan": {"canaries": ["a", "b"], "models": ["m1"]},
                                             "missing": ["x"]}
        with pytest.raises(Exception, match="not in"):
            store.update_settings("nope", plan={})


# -- the starting repo -----------------------------------------------------------------------------

def make_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "canary" / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "mod.py").write_text("X = 1\n")
    return repo


def test_a_clean_repo_with_inner_links_has_no_problem(tmp_path):
    repo = make_repo(tmp_path)
    os.symlink("pkg/mod.py", repo / "alias.py")
    os.symlink("pkg", repo / "pkg_alias")
    (repo / ".git").mkdir()
    os.symlink("/etc/passwd", repo / ".git" / "ignored")  # .git is never copied into the baseline
    assert repo_problems(repo) == []


def test_links_that_leave_dangle_or_loop_are_problems(tmp_path):
    repo = make_repo(tmp_path)
    outside = tmp_path / "secret"
    outside.write_text("s")
    os.symlink(outside, repo / "pkg" / "leak")
    os.symlink("../../secret", repo / "relative_leak")
    os.symlink("nowhere.py", repo / "dangling.py")
    os.symlink("..", repo / "pkg" / "loop")
    problems = repo_problems(repo)
    assert len(problems) == 4
    assert any(p.startswith(f"{repo}/pkg/leak: a symbolic link to {outside}, outside repo/") for p in problems)
    assert any(p.startswith(f"{repo}/relative_leak: a symbolic link to ../../secret, outside repo/")
               for p in problems)
    assert f"{repo}/dangling.py: a symbolic link to nowhere.py, which does not exist" in problems
    assert f"{repo}/pkg/loop: a symbolic link to .., one of its own parents: copying repo/ would never end" \
        in problems


def test_a_file_name_that_is_not_utf8_is_a_problem(tmp_path):
    repo = make_repo(tmp_path)
    try:
        fd = os.open(os.fsencode(repo / "pkg") + b"/caf\xe9.py", os.O_CREAT | os.O_WRONLY)
    except OSError:
        pytest.skip("this file system refuses non-UTF-8 names")
    os.close(fd)
    assert repo_problems(repo) == [f"{repo}/pkg/caf\\xe9.py: the file name is not valid UTF-8 (rename it)"]


def test_many_problems_are_capped(tmp_path):
    repo = make_repo(tmp_path)
    for i in range(8):
        os.symlink(f"missing{i}", repo / f"link{i}")
    problems = repo_problems(repo)
    assert len(problems) == 6 and problems[-1] == "... and 3 more"


def test_a_report_rebuilt_from_the_database_is_incomplete_too(tmp_path):
    from pytest_agentbench.cli import build_report_from_store

    with ResultStore(tmp_path / "r.sqlite") as store:
        store.start_run("run", datetime.now(timezone.utc), {"repeats": 1}, {}, {})
        store.update_settings("run", missing=["c.toml::c[m-r0]"])
        report = build_report_from_store(store.run("run"), [])
    assert report["incomplete"] is True and report["missing"] == ["c.toml::c[m-r0]"]
