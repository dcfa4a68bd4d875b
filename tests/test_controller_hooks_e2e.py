"""The controller's hooks, end to end: a conftest.py implements ``pytest_agentbench_attempt_finished``
and ``pytest_agentbench_summary``; the run goes through the real plugin against a ScriptedServer,
serially and under ``-n 2`` (where both must run on the controller, not on the workers)."""

from __future__ import annotations

import json
import re

import pytest

from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE

GOOD = [call("write_file", path="hello.py", content=HELLO_SOURCE), say("Done.")]
PHANTOM = [say("All done, hello.py is written.")]

CONFTEST = '''
import json
import os

from pytest_agentbench.schemas.results import AttemptResult


def _log(name, record):
    with open(name, "a") as handle:
        handle.write(json.dumps(record) + "\\n")


def pytest_agentbench_attempt_finished(result):
    _log("finished.jsonl", {"type": type(result).__name__, "is_result": isinstance(result, AttemptResult),
                            "canary": result.canary, "model": result.model, "repeat": result.repeat,
                            "outcome": result.outcome,
                            "worker": os.environ.get("PYTEST_XDIST_WORKER")})


def pytest_agentbench_summary(aggregates, terminalreporter):
    _log("summary.jsonl", {"aggregates": aggregates, "worker": os.environ.get("PYTEST_XDIST_WORKER")})
    for row in aggregates:
        terminalreporter.write_line(f"CUSTOM {row['model']} {row['tier']} {row['c']}/{row['n']}")
'''

# `[gw0] [ 25%] PASSED canaries/alpha/canary.toml::alpha[good-r0]` or, serially,
# `canaries/alpha/canary.toml::alpha[good-r0] PASSED [ 25%]`: the order reports reached the
# controller's terminal, which is the order results arrive.
_VERBOSE_LINE = re.compile(r"canaries/\S+::(?P<canary>[\w-]+)\[(?P<model>\w+)-r(?P<repeat>\d+)\]")


@pytest.fixture(autouse=True)
def _not_an_xdist_worker(monkeypatch):
    # Under `pytest -n` this test runs in a worker; the runs it starts are not workers.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)


def _records(bench, name: str) -> list[dict]:
    path = bench.pytester.path / name
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _run(bench, *args: str):
    for name in ("finished.jsonl", "summary.jsonl"):
        (bench.pytester.path / name).unlink(missing_ok=True)
    bench.pytester.makeconftest(CONFTEST)
    bench.canary("alpha")
    bench.canary("beta")
    with ScriptedServer({"good": GOOD, "phantom": PHANTOM}) as server:
        result = bench.run(server, *args, models="good,phantom", repeats=2)
    result.assert_outcomes(passed=4, failed=4)
    return result


@pytest.fixture(params=[[], ["-n", "2"]], ids=["serial", "n2"])
def parallelism(request) -> list[str]:
    if request.param:
        pytest.importorskip("xdist")
    return request.param


def test_attempt_finished_runs_on_the_controller_once_per_result_in_arrival_order(bench, parallelism):
    result = _run(bench, *parallelism)
    finished = _records(bench, "finished.jsonl")
    assert len(finished) == 8
    assert all(r["type"] == "AttemptResult" and r["is_result"] for r in finished)
    assert all(r["worker"] is None for r in finished), "must run on the controller, not a worker"
    arrived = [(m["canary"], m["model"], int(m["repeat"]))
               for line in result.outlines if (" PASSED" in line or " PHANTOM" in line)
               and (m := _VERBOSE_LINE.search(line))]
    assert [(r["canary"], r["model"], r["repeat"]) for r in finished] == arrived
    outcomes = {(r["canary"], r["model"], r["repeat"]): r["outcome"] for r in finished}
    assert outcomes == {(a["canary"], a["model"], a["repeat"]): a["outcome"]
                        for a in bench.report()["attempts"]}


def test_summary_hook_gets_the_json_reports_aggregates_at_the_end_of_the_summary(bench, parallelism):
    result = _run(bench, *parallelism)
    calls = _records(bench, "summary.jsonl")
    assert len(calls) == 1 and calls[0]["worker"] is None
    assert calls[0]["aggregates"] == bench.report()["aggregates"]
    lines = result.outlines
    custom = [i for i, line in enumerate(lines) if line.startswith("CUSTOM ")]
    assert [lines[i] for i in custom] == ["CUSTOM good lite 4/4", "CUSTOM good all 4/4",
                                          "CUSTOM phantom lite 0/4", "CUSTOM phantom all 0/4"]
    summary = next(i for i, line in enumerate(lines) if "agentbench summary" in line)
    transcripts = next(i for i, line in enumerate(lines) if line.startswith("transcripts: "))
    assert summary < transcripts < custom[0]  # after the built-in summary, before pytest's last line


def test_summary_hook_is_not_called_without_results(bench):
    bench.pytester.makeconftest(CONFTEST)
    bench.canary("alpha")
    with ScriptedServer(GOOD) as server:
        result = bench.run(server, "--collect-only")
    assert result.ret == pytest.ExitCode.OK
    assert _records(bench, "summary.jsonl") == [] and _records(bench, "finished.jsonl") == []
