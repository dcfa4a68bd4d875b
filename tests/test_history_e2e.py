"""The results database end to end: every attempt recorded as it finishes, resume after an
interrupt with no duplicates, xdist parity of the rows, and the baseline regression gate."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

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


def test_baseline_last_on_the_first_run_warns_and_skips_the_comparison(bench):
    # The CI example's one command line, on a fresh database: a warning, not a usage error.
    bench.canary()
    with ScriptedServer(GOOD) as server:
        first = bench.run(server, "--agentbench-baseline", "last", "--agentbench-fail-on-regression")
        second = bench.run(server, "--agentbench-baseline", "last", "--agentbench-fail-on-regression")
    assert first.ret == 0
    warning = ("*WARNING: --agentbench-baseline last: no earlier run to compare with: "
               "the baseline comparison is skipped this time")
    first.stdout.fnmatch_lines(["agentbench: run *", warning, "*agentbench vs baseline*", warning])
    assert "no regression beyond noise" not in first.stdout.str()
    # From the second run on it compares, as before.
    assert second.ret == 0 and "no earlier run" not in second.stdout.str()
    second.stdout.fnmatch_lines(["*agentbench vs baseline 2*", "no regression beyond noise"])


@pytest.mark.parametrize("first", [True, False], ids=["empty-database", "runs-recorded"])
def test_a_baseline_run_id_that_does_not_exist_is_still_a_usage_error(bench, first):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        if not first:
            assert bench.run(server).ret == 0
        result = bench.run(server, "--agentbench-baseline", "20200101-000000-abcdef")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--agentbench-baseline: *"])


def test_the_results_commands_find_the_database_from_a_subdirectory(bench):
    # pytest writes .agentbench/results.sqlite at its rootdir; `agentbench runs`/`report`/
    # `compare`/`promote` run from deeper in the project must read that one.
    bench.canary()
    bench.pytester.path.joinpath(".git").mkdir()  # the checkout's top
    with ScriptedServer(GOOD) as server:
        assert bench.run(server).ret == 0
    run_id = rows(bench)[0][0]
    deep = bench.pytester.path / "canaries" / "hello" / "repo"

    def agentbench(*args: str, cwd=deep) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pytest_agentbench.cli", *args], cwd=cwd,
                              capture_output=True, text=True, timeout=60, check=False)

    runs = agentbench("runs")
    assert runs.returncode == 0 and run_id in runs.stdout, runs.stderr
    report = agentbench("report", "last")
    assert report.returncode == 0 and f"run {run_id}" in report.stdout, report.stderr
    compare = agentbench("compare", run_id, "last")
    assert compare.returncode == 0 and "0 regression(s)" in compare.stdout, compare.stderr
    # promote reads the database, and the roles from the registry beside it (the rootdir's).
    promote = agentbench("promote", "last")
    assert promote.returncode == 2 and "no results database" not in promote.stderr
    assert f"no roles in {bench.pytester.path / 'agentbench.toml'}" in promote.stderr
    # An explicit --db is taken as given, relative to the working directory.
    explicit = agentbench("runs", "--db", "results.sqlite")
    assert explicit.returncode == 2 and "no results database at results.sqlite" in explicit.stderr
    # Above the checkout's top another project's database is not this one's.
    outside = bench.pytester.path / "nested-checkout"
    outside.joinpath(".git").mkdir(parents=True)
    alone = agentbench("runs", cwd=outside)
    assert alone.returncode == 2
    assert "no results database at .agentbench/results.sqlite" in alone.stderr
