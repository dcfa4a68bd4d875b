"""Budget ceilings end to end: a run's budget cells run again with each limit they hit raised, and
each is classified - a model that needs more turns, one that needs more tokens, one that needs
both together, one starved by its output cap, one that never gets there, one whose evidence is
too thin - from the source run in the database, without --models. And progress over
expect_changed on a discriminator."""

from __future__ import annotations

import json

import pytest

from pytest_agentbench.testing import ScriptedServer, call, say
from pytest_agentbench.tuning.ceilings import classify, repeats_needed
from pytest_agentbench.tuning.ofat import rate_row
from tests.conftest import HELLO_SOURCE, canary_toml

LOOK = call("list_dir", path=".")
WRITE = call("write_file", path="hello.py", content=HELLO_SOURCE)
BUDGET = "[budget]\nturns = 4\ntokens = 2500"


def usage(tokens: int) -> dict:
    return {"prompt_tokens": tokens - 10, "completion_tokens": 10, "total_tokens": tokens}


def budget_bound(body: dict) -> dict:
    """``turns``: writes on its 6th turn (the canary allows 4); ``tokens``: 1000 tokens a turn,
    writes on its 4th (the canary allows 2500 tokens); ``both``: 600 tokens a turn, writes on its
    6th (turns alone run out of tokens, tokens alone out of turns); ``capped``: every reply is
    cut off by the output cap unless the request allows 4096 tokens, then done at once;
    ``never``: looks around forever; ``sometimes``: like ``turns`` when the request's seed is 0, else like
    ``never``; ``fine``: done at once."""
    turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
    model, seed = body["model"], body.get("seed")
    if model == "capped" and (body.get("max_tokens") or 0) < 4096:
        return {"content": f"Let me think about this carefully (seed {seed})", "finish_reason": "length",
                "usage": usage(100)}
    plan = {"turns": (5, 100), "tokens": (3, 1000), "never": (None, 100), "fine": (0, 100),
            "sometimes": (5 if seed == 0 else None, 100), "both": (5, 600), "capped": (0, 100)}
    write_at, tokens = plan[model]
    if write_at is None or turn < write_at:
        reply = LOOK
    elif turn == write_at:
        reply = WRITE
    else:
        reply = say("Done.")
    # The seed in every reply: each repeat is its own conversation (a distinct sample).
    return {**reply, "content": f"{reply['content']} (seed {seed})", "usage": usage(tokens)}


def test_every_ceiling_class_is_found_where_it_should_be(bench):
    bench.canary(toml=canary_toml(extra=BUDGET))
    models = "turns,tokens,both,capped,never,sometimes,fine"
    with ScriptedServer(budget_bound) as server:
        bench.run(server, models=models, repeats=3)
        source = bench.report()
        outcomes = {(a["model"], a["outcome"]) for a in source["attempts"]}
        assert {("turns", "budget_turns"), ("tokens", "budget_tokens"), ("never", "budget_turns"),
                ("capped", "budget_tokens"), ("fine", "passed")} <= outcomes
        result = bench.pytester.runpytest("canaries", "--agentbench-ceilings", "last", "--repeats", "3",
                                          "--agentbench-ceiling-factors", "2",
                                          "--agentbench-json", "ceilings.json", "-p", "no:cacheprovider")
    report = json.loads((bench.pytester.path / "ceilings.json").read_text())
    ran = {(a["model"], a["variant"]) for a in report["attempts"]}
    # fine had no budget outcome: none of its attempts runs again; each cell gets the raises its
    # limits call for (the output cap: max_tokens and the token budget)
    assert {m for m, _ in ran} == {"turns", "tokens", "both", "capped", "never", "sometimes"}
    assert {v for m, v in ran if m == "capped"} == {"max_tokens=x2", "tokens=x2"}
    assert {v for m, v in ran if m == "turns"} == {"turns=x2", "tokens=x2", "turns=x2,tokens=x2"}
    assert {a["variant"]: a["budget"]["turns"] for a in report["attempts"] if a["model"] == "turns"} == {
        "turns=x2": 8, "tokens=x2": 4, "turns=x2,tokens=x2": 8}
    rows = {row["model"]: row for row in report["ceilings"]}
    assert {model: row["ceiling"] for model, row in rows.items()} == {
        "turns": "turn", "tokens": "token", "both": "both", "capped": "output_cap",
        "never": "capability", "sometimes": "undetermined"}
    turn_row = rows["turns"]
    assert set(turn_row) >= {"model", "variant", "canary", "original", "raised", "ceiling"}
    assert turn_row["original"] == {"n": 3, "c": 0, "outcomes": {"budget_turns": 3}, "limits": ["turn_budget"]}
    assert [(r["budget"], r["factor"], r["n"], r["c"]) for r in turn_row["raised"]] == [
        ("turns", 2.0, 3, 3), ("tokens", 2.0, 3, 0), ("both", 2.0, 3, 3)]
    assert rows["capped"]["original"]["limits"] == ["output_cap"]
    assert rows["sometimes"]["repeats_needed"] > 3
    result.stdout.fnmatch_lines([
        "*= agentbench ceilings =*",
        "both: both 1",
        "capped: output_cap 1",
        "never: capability 1",
        "  capability   hello (base): 0/3 -> turns x2 0/3, tokens x2 0/3, both x2 0/3",
        "sometimes: undetermined 1",
        "  undetermined hello (base): 0/3 -> turns x2 1/3, tokens x2 0/3, both x2 * - about * repeats per cell would tell",
        "tokens: token 1",
        "turns: turn 1",
    ])


def test_a_run_without_budget_outcomes_has_no_ceilings_to_tell(bench):
    bench.canary()
    with ScriptedServer(budget_bound) as server:
        bench.run(server, models="fine")
        result = bench.pytester.runpytest("canaries", "--agentbench-ceilings", "last")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--agentbench-ceilings: run * has no budget_turns, budget_tokens or budget_time outcome*"])


def rate(c: int, n: int = 3) -> dict:
    from pytest_agentbench.report.summary import Group
    from pytest_agentbench.schemas.results import AttemptResult
    return rate_row(Group([AttemptResult(canary="x", tier="lite", model="m", repeat=r, conversation_digest=str(r),
                                         outcome="passed" if r < c else "budget_turns") for r in range(n)]), 0.95)


@pytest.mark.parametrize("turns, tokens, ceiling", [
    ([0, 3], [0, 0], "turn"), ([0, 0], [3, 3], "token"), ([3, 3], [0, 3], "either"),
    ([0, 0], [0, 0], "capability"), ([1, 1], [0, 0], "undetermined"), ([3, 3], [1, 2], "undetermined"),
])
def test_the_classes_follow_the_evidence(turns, tokens, ceiling):
    raised = {"turns": [rate(c) for c in turns], "tokens": [rate(c) for c in tokens]}
    assert classify(rate(0), raised) == ceiling


@pytest.mark.parametrize("raised, limits, ceiling", [
    ({"max_tokens": [3], "tokens": [0]}, {"output_cap"}, "output_cap"),
    ({"seconds": [3]}, {"time_budget"}, "time"),
    ({"turns": [0], "tokens": [0], "both": [3]}, {"turn_budget"}, "both"),
    ({"seconds": [0]}, {"time_budget"}, "capability"),
    # the context window cannot be raised: a cell that hit it is never called capability
    ({"turns": [0], "tokens": [0], "both": [0]}, {"turn_budget", "context_window"}, "undetermined"),
])
def test_every_limit_has_its_class_and_an_unraised_one_is_never_capability(raised, limits, ceiling):
    rows = {kind: [rate(c) for c in counts] for kind, counts in raised.items()}
    assert classify(rate(0), rows, limits) == ceiling


def test_repeats_needed_is_where_the_same_rates_become_evidence():
    assert repeats_needed(0.0, 1 / 3, 0.95) == 11  # 0/11 -> 4/11 (0/9 -> 3/9 is not yet)
    assert repeats_needed(0.0, 1.0, 0.95) == 2  # 0/2 -> 2/2 already excludes 0
    assert repeats_needed(0.5, 0.5, 0.95) is None


def test_progress_counts_the_expected_files_a_discriminator_changed(bench):
    files = ["a.py", "b.py", "c.py"]
    bench.canary(toml=canary_toml(run=[], expect_changed=files, extra='tags = ["discriminator"]')
                 .replace('tags = ["python"]\n', ""))
    script = [call("write_file", path="a.py", content="A = 1\n"), call("write_file", path="c.py", content="C = 1\n"),
              say("Done.")]
    with ScriptedServer(script) as server:
        result = bench.run(server)
    [attempt] = bench.report()["attempts"]
    assert attempt["progress"] == {"expected": 3, "changed": 2}
    assert bench.report()["progress"] == [{"model": "m", "variant": "base", "attempts": 1, "mean_changed": 2.0,
                                          "mean_expected": 3.0, "complete": 0}]
    result.stdout.fnmatch_lines(["progress on discriminators (expect_changed files changed):",
                                 "  m: 2 of 3 files (1 attempt, 0 with every file)"])


def test_progress_expands_a_glob_against_the_reference_solution(bench):
    """`providers/*.py` is the five files the reference changes, not one pattern: a model that
    edits three of them is "3 of 5 files"."""
    names = [f"providers/p{i}.py" for i in range(5)]
    directory = bench.canary(
        toml=canary_toml(run=[], expect_changed=["providers/*.py", "sync.py"],
                         extra='tags = ["discriminator"]').replace('tags = ["python"]\n', ""),
        repo={**{n: "X = 0\n" for n in names}, "sync.py": "S = 0\n"})
    for name in [*names, "sync.py"]:
        (directory / "solution" / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / "solution" / name).write_text("X = 1\n")
    script = [call("write_file", path=n, content="X = 1\n") for n in names[:3]] + [say("Done.")]
    with ScriptedServer(script) as server:
        result = bench.run(server)
    [attempt] = bench.report()["attempts"]
    assert attempt["progress"] == {"expected": 6, "changed": 3}
    result.stdout.fnmatch_lines(["  m: 3 of 6 files (1 attempt, 0 with every file)"])


def test_identical_repeats_say_that_more_repeats_will_not_help():
    """An undetermined cell whose repeats were byte-identical (temperature 0) is one sample:
    repeats_needed would be a false promise, the note says to raise the temperature instead."""
    from pytest_agentbench.schemas.results import AttemptResult
    from pytest_agentbench.tuning.ceilings import IDENTICAL_NOTE, ceiling_rows

    def attempts(variant: str, passed: int, digest: str | None) -> list[AttemptResult]:
        return [AttemptResult(canary="c", tier="lite", model="m", variant=variant, repeat=r,
                              outcome="passed" if r < passed else "budget_turns", limit_hit=None
                              if r < passed else "turn_budget",
                              conversation_digest=digest or f"{variant}-{r}") for r in range(3)]

    record = {"source_variant": "base", "factor": 2.0, "cells": {"m": ["c"]}}
    variants = {"turns=x2": {**record, "budget": "turns"}, "tokens=x2": {**record, "budget": "tokens"}}
    raised = attempts("turns=x2", 1, None) + attempts("tokens=x2", 0, None)
    identical = ceiling_rows(raised, attempts("base", 0, "same"), variants)
    assert identical[0]["ceiling"] == "undetermined"
    assert identical[0]["note"] == IDENTICAL_NOTE and identical[0]["repeats_needed"] is None
    distinct = ceiling_rows(raised, attempts("base", 0, None), variants)
    assert "note" not in distinct[0] and distinct[0]["repeats_needed"] is not None
