"""The results database: schema, upserts, resume keys, run resolution, version guard."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pytest_agentbench.records.store import ResultStore, StoreError
from pytest_agentbench.schemas.results import AttemptResult

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def attempt(canary: str = "add-function", model: str = "m", repeat: int = 0,
            outcome: str = "passed", variant: str = "base", **extra) -> AttemptResult:
    return AttemptResult(canary=canary, tier="lite", model=model, variant=variant, repeat=repeat,
                         outcome=outcome, **extra)


@pytest.fixture
def store(tmp_path: Path):
    with ResultStore(tmp_path / "nested" / "results.sqlite") as s:
        yield s


def start(store: ResultStore, run_id: str, started: datetime = T0) -> None:
    store.start_run(run_id, started, {"repeats": 3}, {"python": "3.11"}, {"m": {"base_url": "u"}})


def test_schema_created_with_version(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "results.sqlite"
    ResultStore(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == ResultStore.SCHEMA_VERSION == 2
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "2"
    assert "report" in [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"meta", "runs", "attempts"} <= tables
    columns = [row[1] for row in conn.execute("PRAGMA table_info(attempts)")]
    assert columns[:5] == ["run_id", "canary", "model", "variant", "repeat"] and "data" in columns
    conn.close()
    ResultStore(path).close()  # reopening an existing schema is a no-op


def test_newer_schema_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 3")
    conn.close()
    with pytest.raises(StoreError, match="schema version 3, newer than the 2"):
        ResultStore(path)


# The schema as version 1 wrote it: runs without the report column.
SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (run_id TEXT PRIMARY KEY, started TEXT NOT NULL, finished TEXT, exit_status INTEGER,
    interrupted INTEGER NOT NULL DEFAULT 0, settings TEXT NOT NULL DEFAULT '{}',
    environment TEXT NOT NULL DEFAULT '{}', models TEXT NOT NULL DEFAULT '{}');
CREATE TABLE attempts (run_id TEXT NOT NULL REFERENCES runs(run_id), canary TEXT NOT NULL,
    model TEXT NOT NULL, variant TEXT NOT NULL, repeat INTEGER NOT NULL, outcome TEXT NOT NULL,
    turns INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, wall_seconds REAL,
    malformed_tool_calls INTEGER, data TEXT NOT NULL, PRIMARY KEY (run_id, canary, model, variant, repeat));
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO runs (run_id, started, settings) VALUES ('old', '2024-05-01T12:00:00+00:00', '{"repeats": 3}');
PRAGMA user_version = 1;
"""


def test_a_version_1_file_is_migrated_and_its_runs_stay_readable(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_1)
    conn.close()
    with ResultStore(path) as s:
        old = s.run("old")
        assert old is not None and old.settings == {"repeats": 3} and old.report is None
        s.add_attempt("old", attempt())
        s.save_report("old", {"sections": {"pipelines": {"phases": []}}, "settings": {"b": 1, "a": 2}})
        assert s.run("old").report == {"sections": {"pipelines": {"phases": []}}, "settings": {"b": 1, "a": 2}}
        assert list(s.run("old").report["settings"]) == ["b", "a"]  # the report's own order
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "2"
    conn.close()
    ResultStore(path).close()  # migrating twice is a no-op


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    path.write_text("hello, this is not sqlite" * 10)
    with pytest.raises(StoreError, match="not a readable results database"):
        ResultStore(path)


def test_run_record_and_counts(store: ResultStore) -> None:
    start(store, "r1")
    store.add_attempt("r1", attempt(repeat=0, outcome="passed"))
    store.add_attempt("r1", attempt(repeat=1, outcome="failed"))
    record = store.run("r1")
    assert record is not None
    assert (record.started, record.finished, record.exit_status, record.interrupted) == (
        T0.isoformat(), None, None, False)
    assert (record.attempts, record.passed) == (2, 1)
    assert record.settings == {"repeats": 3} and record.environment == {"python": "3.11"}
    store.finish_run("r1", T0 + timedelta(minutes=5), 1, interrupted=True)
    store.update_models("r1", {"m": {"base_url": "u", "server": {"kind": "ollama"}}})
    record = store.run("r1")
    assert record.finished == (T0 + timedelta(minutes=5)).isoformat()
    assert (record.exit_status, record.interrupted) == (1, True)
    assert record.models["m"]["server"] == {"kind": "ollama"}
    assert store.run("nope") is None


def test_upsert_replaces_same_key(store: ResultStore) -> None:
    start(store, "r1")
    store.add_attempt("r1", attempt(outcome="infra_error", detail="server down"))
    store.add_attempt("r1", attempt(outcome="passed", turns=7))
    results = store.attempts("r1")
    assert len(results) == 1
    assert (results[0].outcome, results[0].turns, results[0].detail) == ("passed", 7, "")


def test_attempts_sorted_and_full_roundtrip(store: ResultStore) -> None:
    start(store, "r1")
    full = attempt("b", "m2", 1, "phantom", files_changed=["x.py"], quirks={"think": 2},
                   checks=[{"command": "pytest", "exit_code": 1, "timed_out": False, "seconds": 0.5}])
    for result in [full, attempt("b", "m1", 0), attempt("a", "m2", 2), attempt("a", "m2", 0)]:
        store.add_attempt("r1", result)
    keys = [(r.canary, r.model, r.repeat) for r in store.attempts("r1")]
    assert keys == [("a", "m2", 0), ("a", "m2", 2), ("b", "m1", 0), ("b", "m2", 1)]
    assert store.attempts("r1")[-1] == full


def test_done_keys_exclude_infra_error(store: ResultStore) -> None:
    start(store, "r1")
    store.add_attempt("r1", attempt(repeat=0, outcome="passed"))
    store.add_attempt("r1", attempt(repeat=1, outcome="failed"))
    store.add_attempt("r1", attempt(repeat=2, outcome="infra_error"))
    store.add_attempt("r1", attempt(repeat=0, outcome="budget_turns", variant="v2"))
    assert store.done_keys("r1") == {("add-function", "m", "base", 0), ("add-function", "m", "base", 1),
                                     ("add-function", "m", "v2", 0)}
    assert store.done_keys("other") == set()


def test_attempt_for_unknown_run_refused(store: ResultStore) -> None:
    with pytest.raises(StoreError, match="start_run"):
        store.add_attempt("ghost", attempt())


def test_resume_keeps_start_and_reopens(store: ResultStore) -> None:
    start(store, "r1")
    store.add_attempt("r1", attempt())
    store.finish_run("r1", T0 + timedelta(minutes=1), 2, interrupted=True)
    store.start_run("r1", T0 + timedelta(hours=1), {"repeats": 5}, {"python": "3.12"}, {"n": {}})
    record = store.run("r1")
    assert record.started == T0.isoformat() and record.environment == {"python": "3.11"}
    assert record.settings == {"repeats": 5} and record.models == {"n": {}}
    assert (record.finished, record.exit_status, record.interrupted) == (None, None, False)
    assert record.attempts == 1


def test_runs_newest_first_and_resolve(store: ResultStore) -> None:
    with pytest.raises(StoreError, match="no runs"):
        store.resolve("last")
    start(store, "20240501-120000-aaaaaa", T0)
    start(store, "20240502-120000-bbbbbb", T0 + timedelta(days=1))
    start(store, "20240430-120000-cccccc", T0 - timedelta(days=1))
    assert [r.run_id for r in store.runs()] == [
        "20240502-120000-bbbbbb", "20240501-120000-aaaaaa", "20240430-120000-cccccc"]
    assert store.resolve("last") == "20240502-120000-bbbbbb"
    assert store.resolve("20240501-120000-aaaaaa") == "20240501-120000-aaaaaa"
    assert store.resolve("20240430") == "20240430-120000-cccccc"  # a unique prefix will do
    with pytest.raises(StoreError, match="is not in .*latest runs: 20240502-120000-bbbbbb, 2024050"):
        store.resolve("nope")
    with pytest.raises(StoreError, match="ambiguous"):
        store.resolve("202405")


def test_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    first = ResultStore(path)
    start(first, "r1")
    first.add_attempt("r1", attempt(turns=4))
    # No finish_run and no close: as after a crash, every committed attempt must be readable.
    with ResultStore(path) as second:
        assert [r.turns for r in second.attempts("r1")] == [4]
        assert second.runs()[0].finished is None
    first.close()
    with ResultStore(path) as third:
        assert third.done_keys("r1") == {("add-function", "m", "base", 0)}


def test_attempt_kept_after_process_dies(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "results.sqlite"
    script = (
        "import os, sys; from datetime import datetime, timezone\n"
        "from pytest_agentbench.records.store import ResultStore\n"
        "from pytest_agentbench.schemas.results import AttemptResult\n"
        "s = ResultStore(sys.argv[1])\n"
        "s.start_run('r1', datetime.now(timezone.utc), {}, {}, {})\n"
        "s.add_attempt('r1', AttemptResult(canary='c', tier='lite', model='m', repeat=0, outcome='passed'))\n"
        "os._exit(3)  # no close, no finish_run: a hard crash\n"
    )
    assert subprocess.run([sys.executable, "-c", script, str(path)], check=False).returncode == 3
    with ResultStore(path) as store:
        assert store.done_keys("r1") == {("c", "m", "base", 0)}


class Holder:
    """Another process's lock on the database, as a ``sqlite3`` shell in ``BEGIN EXCLUSIVE``
    holds it: taken at once, released after ``seconds`` (None: when ``release`` is called)."""

    def __init__(self, path: Path, seconds: float | None = None) -> None:
        import threading

        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("BEGIN EXCLUSIVE")
        self.timer = threading.Timer(seconds, self.release) if seconds is not None else None
        if self.timer:
            self.timer.start()

    def release(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")

    def close(self) -> None:
        if self.timer:
            self.timer.join()
        self.release()
        self.conn.close()


def test_a_write_waits_for_a_lock_that_frees(tmp_path: Path, monkeypatch) -> None:
    import time

    from pytest_agentbench.records import store as store_module

    path = tmp_path / "results.sqlite"
    monkeypatch.setattr(store_module, "LOCK_WAIT_SECONDS", 30.0)
    with ResultStore(path) as s:
        start(s, "r1")
        holder = Holder(path, seconds=1.5)
        began = time.monotonic()
        s.add_attempt("r1", attempt())  # waits for the lock, then writes
        waited = time.monotonic() - began
        holder.close()
        assert 1.0 < waited < 10
        assert [r.outcome for r in s.attempts("r1")] == ["passed"]


def test_a_write_gives_up_on_a_lock_held_past_the_wait(tmp_path: Path, monkeypatch) -> None:
    import time

    from pytest_agentbench.records import store as store_module
    from pytest_agentbench.records.store import StoreUnavailable

    path = tmp_path / "results.sqlite"
    monkeypatch.setattr(store_module, "LOCK_WAIT_SECONDS", 0.5)
    with ResultStore(path) as s:
        start(s, "r1")
        holder = Holder(path)
        began = time.monotonic()
        with pytest.raises(StoreUnavailable, match="locked by another process") as raised:
            s.add_attempt("r1", attempt())
        assert time.monotonic() - began < 5
        assert raised.value.locked and str(path) in str(raised.value)
        with pytest.raises(StoreUnavailable):  # a run's setting too: nothing writes past a lock
            s.update_settings("r1", missing=[])
        holder.close()
        s.add_attempt("r1", attempt())  # the same connection writes once the lock is gone
        assert len(s.attempts("r1")) == 1


def test_opening_a_database_locked_before_it_has_a_schema_gives_up(tmp_path: Path, monkeypatch) -> None:
    from pytest_agentbench.records import store as store_module
    from pytest_agentbench.records.store import StoreUnavailable

    path = tmp_path / "results.sqlite"
    holder = Holder(path)  # a fresh file in rollback mode: even reading it waits
    holder.conn.execute("CREATE TABLE scratch (x)")
    monkeypatch.setattr(store_module, "LOCK_WAIT_SECONDS", 0.3)
    with pytest.raises(StoreUnavailable, match="locked by another process"):
        ResultStore(path)
    holder.close()
    ResultStore(path).close()
