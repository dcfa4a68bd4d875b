"""Sweeps (--agentbench-sweep): every model runs once per variant, and the variant is carried
through test ids, requests, the JSON report, the database and the summary rows."""

from __future__ import annotations

import pytest

from pytest_agentbench.run.variants import SweepError, parse_sweeps
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE, agent_requests

GOOD = [call("write_file", path="hello.py", content=HELLO_SOURCE), say("Done.")]


def test_a_sweep_runs_each_variant_and_sends_its_settings(bench):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        result = bench.run(server, "--agentbench-sweep", "temperature=0,0.7", repeats=2)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["agentbench: sweep: temperature=0 · temperature=0.7",
                                 "*hello?m-temperature=0.7-r1? PASSED*",
                                 "m/temperature=0 * lite * 2 * 1.00*",
                                 "m/temperature=0.7 * lite * 2 * 1.00*"])
    report = bench.report()
    assert sorted((a["variant"], a["repeat"]) for a in report["attempts"]) == [
        ("temperature=0", 0), ("temperature=0", 1), ("temperature=0.7", 0), ("temperature=0.7", 1)]
    assert {r["variant"] for r in report["summary"]} == {"temperature=0", "temperature=0.7"}
    assert report["settings"]["variants"] == {"temperature=0": {"temperature": "0"},
                                              "temperature=0.7": {"temperature": "0.7"}}
    assert sorted({r["temperature"] for r in agent_requests(server)}) == [0.0, 0.7]
    # each attempt has its own transcript: variants of one model must not share (or overwrite) one
    assert len({a["transcript"] for a in report["attempts"]}) == 4


def test_sweeps_multiply_and_resume_keeps_variants_apart(bench):
    bench.canary()
    sweep = ["--agentbench-sweep", "temperature=0,1", "--agentbench-sweep", "seed=1,2"]
    with ScriptedServer(GOOD) as server:
        bench.run(server, *sweep)
        assert len(bench.report()["attempts"]) == 4
        assert {r.get("seed") for r in agent_requests(server)} == {1, 2}
        again = bench.run(server, *sweep, "--agentbench-resume", "last")
    again.assert_outcomes()  # every variant's attempt is already done
    assert len(bench.report()["attempts"]) == 4


@pytest.mark.parametrize("texts, message", [
    (["colour=red,blue"], "KEY one of temperature"),
    (["temperature=hot,cold"], "temperature=hot"),
    (["temperature=0,0"], "distinct values"),
    (["seed=1,2", "seed=3"], "swept twice"),
])
def test_bad_sweeps_are_refused_with_the_reason(texts, message):
    with pytest.raises(SweepError, match=message):
        parse_sweeps(texts)


def test_a_bad_sweep_is_a_usage_error(bench):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        result = bench.run(server, "--agentbench-sweep", "temperature=warm")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--agentbench-sweep: temperature=warm: *"])
