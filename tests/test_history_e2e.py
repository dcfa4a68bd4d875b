"""The results database end to end: every attempt recorded as it finishes, resume after an
interrupt with no duplicates, xdist parity of the rows, and the baseline regression gate."""

from __future__ import annotations

import sqlite3

import pytest

from pytest_agentbench.testing import ScriptedServer, call, say, varied
from tests.conftest import HELLO_SOURCE

GOOD = [call("write_file", path="hello.py", content=HELLO_SOURCE), say("Done.")]
PHANTOM = [say("All done, hello.py is written.")]


def rows(bench, run_id: str | None = None) -> list[tuple]:
    db = sqlite3.connect(bench.pytester.path / ".agentbench" / "results.sqlite")
    query = "SELECT run_id, canary, model, variant, repeat, outcome FROM attempts"
    found = db.execute(query + (" WHERE run_id = ?" if run_id else ""), (run_id,) if run_id else ()).fetchall()
    db.close()
    return sorted(found)


def test_each_attempt_is_recorded_with_its_run(bench):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        bench.run(server, repeats=2)
    report = bench.report()
    recorded = rows(bench)
    assert [(r[0], r[2], r[4], r[5]) for r in recorded] == [
        (report["run_id"], "m", 0, "passed"), (report["run_id"], "m", 1, "passed")]
    db = sqlite3.connect(bench.pytester.path / ".agentbench" / "results.sqlite")
    (finished, exit_status), = db.execute("SELECT finished, exit_status FROM runs").fetchall()
    assert finished and exit_status == 0


def test_interrupted_run_resumes_to_the_full_set_without_duplicates(bench, monkeypatch):
    bench.canary("alpha")
    bench.canary("beta")
    bench.pytester.makeconftest(
        "import os\n"
        "seen = []\n"
        "def pytest_runtest_logfinish(nodeid):\n"
        "    seen.append(nodeid)\n"
        "    if len(seen) == 3 and not os.environ.get('NO_INTERRUPT'):\n"
        "        raise KeyboardInterrupt\n"
    )
    with ScriptedServer(GOOD) as server:
        first = bench.run(server, repeats=3, subprocess=True)
        assert first.ret == pytest.ExitCode.INTERRUPTED
        run_id = bench.report()["run_id"]
        assert len(rows(bench, run_id)) == 3
        monkeypatch.setenv("NO_INTERRUPT", "1")
        second = bench.run(server, "--agentbench-resume", "last", repeats=3, subprocess=True)
    second.assert_outcomes(passed=3)  # only the missing attempts ran
    second.stdout.fnmatch_lines(["*3 deselected*"])
    recorded = rows(bench, run_id)
    keys = [(r[1], r[4]) for r in recorded]
    assert sorted(keys) == sorted({(c, r) for c in ("alpha", "beta") for r in range(3)})
    report = bench.report()
    assert report["run_id"] == run_id and len(report["attempts"]) == 6  # the union


def test_resume_of_an_unknown_run_is_a_usage_error(bench):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        bench.run(server)
        result = bench.run(server, "--agentbench-resume", "no-such-run")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--agentbench-resume*no-such-run*"])


def test_xdist_writes_the_same_rows_as_a_serial_run(bench):
    pytest.importorskip("xdist")
    bench.canary("alpha")
    bench.canary("beta")
    with ScriptedServer({"good": GOOD, "phantom": PHANTOM}) as server:
        bench.run(server, models="good,phantom", repeats=2)
        serial = bench.report()["run_id"]
        bench.run(server, "-n", "2", models="good,phantom", repeats=2)
        parallel = bench.report()["run_id"]
    assert [r[1:] for r in rows(bench, serial)] == [r[1:] for r in rows(bench, parallel)]
    assert len(rows(bench, parallel)) == 8


def test_baseline_regression_gate(bench):
    bench.canary()
    # varied: independent repeats (identical ones are one sample, and 1/1 -> 0/1 is noise).
    with ScriptedServer({"m": varied(GOOD)}) as good, ScriptedServer({"m": varied(PHANTOM)}) as bad:
        baseline = bench.run(good, repeats=3)
        assert baseline.ret == 0
        same = bench.run(good, "--agentbench-baseline", "last", "--agentbench-fail-on-regression", repeats=3)
        worse = bench.run(bad, "--agentbench-baseline", "last", "--agentbench-fail-on-regression", repeats=3)
    assert same.ret == 0
    same.stdout.fnmatch_lines(["*agentbench vs baseline*", "no regression beyond noise"])
    assert worse.ret == 1
    worse.stdout.fnmatch_lines(["REGRESSION m hello: 3/3 -> 0/3*"])
