"""A results database another process holds locked (a ``sqlite3`` shell in ``BEGIN EXCLUSIVE``,
a second run committing) never costs a finished attempt: writes wait for the lock, and past the
wait the run goes on with the attempts in memory and the reports, and says which ones the
database lacks."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pytest_agentbench.records import store as store_module
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE

GOOD = [call("write_file", path="hello.py", content=HELLO_SOURCE), say("Done.")]
DB = Path(".agentbench") / "results.sqlite"

# Takes the lock (from another connection, in a thread, as another process would) when the
# attempt whose id ends in $HOLD_AT has finished and before the plugin records it; releases it
# after $HOLD_SECONDS, when the attempt ending in $RELEASE_AT has finished, or at the run's end.
LOCKING_CONFTEST = """
import os, sqlite3, threading
import pytest

held = {}

def _hold(path, seconds):
    taken, release = threading.Event(), threading.Event()
    def run():
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        taken.set()
        release.wait(seconds)
        conn.execute("COMMIT")
        conn.close()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    taken.wait()
    held["lock"] = (release, thread)

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report):
    if report.when != "call":
        return
    if report.nodeid.endswith(os.environ["HOLD_AT"]):
        seconds = os.environ.get("HOLD_SECONDS")
        _hold(os.path.join(".agentbench", "results.sqlite"), float(seconds) if seconds else None)
    if os.environ.get("RELEASE_AT") and report.nodeid.endswith(os.environ["RELEASE_AT"]):
        release, thread = held.pop("lock")
        release.set()
        thread.join()

def pytest_unconfigure(config):
    # A lock still held (no $RELEASE_AT) ends with the run, not with the test process.
    for release, thread in held.values():
        release.set()
        thread.join()
"""


def recorded(bench) -> list[tuple]:
    db = sqlite3.connect(bench.pytester.path / DB)
    found = db.execute("SELECT run_id, canary, model, repeat, outcome FROM attempts").fetchall()
    db.close()
    return sorted(found)


def recorded_runs(bench) -> dict[str, int | None]:
    db = sqlite3.connect(bench.pytester.path / DB)
    found = dict(db.execute("SELECT run_id, exit_status FROM runs").fetchall())
    db.close()
    return found


class Lock:
    """The whole database locked from the test's side, from before the run until after it."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def __enter__(self) -> Lock:  # noqa: PYI034 (typing.Self needs 3.11)
        self.conn.execute("BEGIN EXCLUSIVE")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.conn.execute("COMMIT")
        self.conn.close()


def test_a_lock_released_within_the_wait_loses_nothing(bench, monkeypatch):
    bench.canary()
    bench.pytester.makeconftest(LOCKING_CONFTEST)
    monkeypatch.setenv("HOLD_AT", "-r0]")
    monkeypatch.setenv("HOLD_SECONDS", "2.5")
    with ScriptedServer(GOOD) as server:
        result = bench.run(server, repeats=3)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    run_id = bench.report()["run_id"]
    assert recorded(bench) == [(run_id, "hello", "m", r, "passed") for r in range(3)]
    assert recorded_runs(bench) == {run_id: 0}
    # A long wait is said, so it is not taken for a hang; nothing is reported lost.
    result.stdout.fnmatch_lines([f"*the results database *{DB} is locked by another process; waiting up to 120 s*"])
    assert "WARNING cannot record" not in result.stdout.str()
    assert "not in the results database" not in result.stdout.str()


def test_attempts_kept_past_the_wait_are_written_once_the_lock_frees(bench, monkeypatch):
    bench.canary()
    bench.pytester.makeconftest(LOCKING_CONFTEST)
    monkeypatch.setenv("HOLD_AT", "-r0]")
    monkeypatch.setenv("RELEASE_AT", "-r1]")
    monkeypatch.setattr(store_module, "LOCK_WAIT_SECONDS", 0.3)
    with ScriptedServer(GOOD) as server:
        result = bench.run(server, repeats=3)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    out = result.stdout.str()
    # Said when it happened; nothing to report at the end: every attempt made it in.
    result.stdout.fnmatch_lines([f"*cannot record*hello?m-r0?*{DB}*locked by another process*"])
    assert "not in the results database" not in out
    run_id = bench.report()["run_id"]
    assert recorded(bench) == [(run_id, "hello", "m", r, "passed") for r in range(3)]
    assert recorded_runs(bench) == {run_id: 0}


def test_a_lock_held_for_the_whole_run_keeps_the_attempts_and_says_so(bench, monkeypatch):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        first = bench.run(server)  # the database exists, as after any earlier run
        assert first.ret == pytest.ExitCode.OK
        earlier = bench.report()["run_id"]
        monkeypatch.setattr(store_module, "LOCK_WAIT_SECONDS", 0.3)
        with Lock(bench.pytester.path / DB):
            result = bench.run(server, repeats=2)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()  # not an internal error
    report = bench.report()
    assert report["run_id"] != earlier
    assert [(a["repeat"], a["outcome"]) for a in report["attempts"]] == [(0, "passed"), (1, "passed")]
    result.stdout.fnmatch_lines([
        f"*2 attempts of run {report['run_id']} are not in the results database*{DB}*",
        "*locked by another process*",
        "*canaries/hello/canary.toml::hello?m-r0?",
        "*canaries/hello/canary.toml::hello?m-r1?",
        "*They are in the JSON report*report.json*",
    ])
    # The database holds the earlier run only, as it was; nothing of this run half-written.
    assert recorded_runs(bench) == {earlier: 0}
    assert [row[0] for row in recorded(bench)] == [earlier]


def test_without_a_json_report_the_kept_attempts_get_one(bench, monkeypatch):
    bench.canary()
    bench.pytester.makeconftest(LOCKING_CONFTEST)
    monkeypatch.setenv("HOLD_AT", "-r0]")  # held from the first attempt to the end of the run
    monkeypatch.setattr(store_module, "LOCK_WAIT_SECONDS", 0.3)
    with ScriptedServer(GOOD) as server:
        result = bench.pytester.runpytest("canaries", "--models", f"m@{server.url}", "--repeats", "2",
                                          "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(["*2 attempts of run * are not in the results database*",
                                 "*They are in the JSON report *report.json*"])
    written = list((bench.pytester.path / ".agentbench" / "runs").glob("*/report.json"))
    assert len(written) == 1
    attempts = json.loads(written[0].read_text())["attempts"]
    assert [(a["repeat"], a["outcome"]) for a in attempts] == [(0, "passed"), (1, "passed")]
