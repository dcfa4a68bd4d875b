"""OFAT and the all-on cell end to end: an OFAT run against scripted models whose success depends
on one factor finds the right winner and no false one; the all-on cell then combines each
model's winners, on the source run's models and canaries, without --models."""

from __future__ import annotations

import json

import pytest

from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE, agent_requests

DIRECTIVE = "Before you finish, check every file the task names."
REGISTRY = f"""
[tool.agentbench.directives]
completeness = "{DIRECTIVE}"
[tool.agentbench.models.hot]
temperature = 0.7
"""
OFAT = ["--agentbench-ofat", "temperature=0", "--agentbench-ofat", "directive=completeness"]


def factor_dependent(body: dict) -> dict:
    """``hot`` passes only at temperature 0, ``careful`` only with the directive, ``never``
    never. The final message carries the seed: repeats are distinct samples."""
    if body["messages"][-1]["role"] == "tool":
        return say(f"Done (seed {body.get('seed')}).")
    passes = {"hot": body.get("temperature") == 0,
              "careful": DIRECTIVE in body["messages"][0]["content"],
              "never": False}[body["model"]]
    return call("write_file", path="hello.py",
                content=HELLO_SOURCE if passes else "def hello():\n    return 'no'\n")


def cells(report: dict) -> dict[tuple[str, str], tuple[int, int, str]]:
    return {(c["model"], c["variant"]): (c["c"], c["n"], c["verdict"]) for c in report["ofat"]["cells"]}


def test_ofat_finds_each_winner_and_the_all_on_cell_combines_them(bench):
    bench.canary()
    (bench.pytester.path / "pyproject.toml").write_text(REGISTRY)
    with ScriptedServer(factor_dependent) as server:
        result = bench.run(server, *OFAT, models="hot,careful,never", repeats=3)
        result.stdout.fnmatch_lines([
            "*= agentbench OFAT =*",
            "careful: baseline 0/3 = 0.00",
            "  temperature * 0 * 3   0  0.00  +0.00 * no evidence",
            "  directive * completeness * 3   3  1.00  +1.00 *[[]+0.*, +1.00]  better",
            "  winners: directive=completeness",
            "hot: baseline 0/3 = 0.00",
            "  temperature * 0 * 3   3  1.00  +1.00 * better",
            "  directive * completeness * 3   0  0.00  +0.00 * no evidence",
            "  winners: temperature=0",
            "never: baseline 0/3 = 0.00",
            "  winners: none (no factor beat the baseline beyond noise)",
            "better / worse: Newcombe's 95% interval *"])
        report = bench.report()
        assert report["ofat"]["winners"] == {"careful": {"directive": "completeness"},
                                             "hot": {"temperature": "0"}, "never": {}}
        assert cells(report) == {
            ("careful", "temperature=0"): (0, 3, "no evidence"),
            ("careful", "directive=completeness"): (3, 3, "better"),
            ("hot", "temperature=0"): (3, 3, "better"),
            ("hot", "directive=completeness"): (0, 3, "no evidence"),
            ("never", "temperature=0"): (0, 3, "no evidence"),
            ("never", "directive=completeness"): (0, 3, "no evidence")}
        cell = report["ofat"]["cells"][1]
        assert set(cell) == {"model", "factor", "value", "variant", "n", "c", "pass_rate", "delta",
                             "ci_low", "ci_high", "verdict"}
        assert cell["factor"] == "directive" and cell["value"] == "completeness" and cell["delta"] == 1.0
        assert 0 < cell["ci_low"] < cell["ci_high"] == 1.0
        # each cell differs from the baseline in its one factor only
        sent = {(r["model"], r["temperature"], DIRECTIVE in r["messages"][0]["content"])
                for r in agent_requests(server)}
        assert ("hot", 0.7, False) in sent and ("hot", 0.0, False) in sent and ("hot", 0.7, True) in sent
        assert ("hot", 0.0, True) not in sent

        server.requests.clear()
        again = bench.pytester.runpytest("canaries", "--agentbench-all-on", "last", "--repeats", "3",
                                         "--agentbench-json", "all-on.json", "-p", "no:cacheprovider")
    again.assert_outcomes(passed=6, failed=3)
    again.stdout.fnmatch_lines([f"*= agentbench OFAT of run {report['run_id']} + all-on =*",
                                "careful: baseline 0/3 = 0.00",
                                "  all-on * directive=completeness *  3   3  1.00  +1.00 * better",
                                "hot: baseline 0/3 = 0.00",
                                "  all-on * temperature=0 *  3   3  1.00  +1.00 * better"])
    all_on = json.loads((bench.pytester.path / "all-on.json").read_text())
    assert {a["variant"] for a in all_on["attempts"]} == {"all-on"}
    assert all_on["ofat"]["source_run"] == report["run_id"]
    assert all_on["ofat"]["cells"] == report["ofat"]["cells"]  # the source run's table
    assert {model: (row["settings"], row["c"], row["n"], row["verdict"])
            for model, row in all_on["ofat"]["all_on"].items()} == {
        "careful": ({"directive": "completeness"}, 3, 3, "better"),
        "hot": ({"temperature": "0"}, 3, 3, "better"),
        "never": ({}, 0, 3, "no evidence")}
    assert {(r["model"], r["temperature"], DIRECTIVE in r["messages"][0]["content"])
            for r in agent_requests(server)} == {("hot", 0.0, False), ("careful", 0.0, True),
                                                 ("never", 0.0, False)}


def test_one_lucky_repeat_is_no_evidence(bench):
    """1/3 -> 2/3 is not a winner; the table says so rather than guessing."""
    bench.canary()

    def two_of_three_at_zero(body):
        if body["messages"][-1]["role"] == "tool":
            return say(f"Done (seed {body.get('seed')}).")
        wins = body["seed"] in ((0, 1) if body["temperature"] == 0 else (0,))
        return call("write_file", path="hello.py", content=HELLO_SOURCE if wins else "x = 1\n")

    (bench.pytester.path / "pyproject.toml").write_text("[tool.agentbench.models.m]\ntemperature = 1.0\n")
    with ScriptedServer(two_of_three_at_zero) as server:
        bench.run(server, "--agentbench-ofat", "temperature=0", repeats=3)
    report = bench.report()
    assert cells(report) == {("m", "temperature=0"): (2, 3, "no evidence")}
    assert report["ofat"]["baselines"]["m"]["c"] == 1 and report["ofat"]["winners"] == {"m": {}}


@pytest.mark.parametrize("args, message", [
    (["--agentbench-ofat", "colour=red"], "--agentbench-ofat: 'colour=red': expected KEY=V1,V2,... with KEY one of*"),
    (["--agentbench-ofat", "temperature=hot"], "--agentbench-ofat: temperature=hot: *"),
    (["--agentbench-all-on", "last"], "--agentbench-all-on last: no results database at *"),
    (["--agentbench-ceiling-factors", "2"], "--agentbench-ceiling-factors needs --agentbench-ceilings*"),
])
def test_bad_tuning_options_are_usage_errors(bench, args, message):
    bench.canary()
    with ScriptedServer(factor_dependent) as server:
        result = bench.run(server, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}"])


def test_all_on_needs_an_ofat_run(bench):
    bench.canary()
    with ScriptedServer(factor_dependent) as server:
        bench.run(server, models="never")
        result = bench.pytester.runpytest("canaries", "--agentbench-all-on", "last")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--agentbench-all-on: run * is not an OFAT run*"])
