"""The results database: one SQLite file holding every run and every finished attempt.

The plugin writes it on the controller only, one committed row per attempt as it finishes, so a
Ctrl-C or a crash keeps everything that finished; ``--agentbench-resume`` reads ``done_keys`` to
run only what is missing. The ``agentbench`` command reads it (possibly while a run is writing:
WAL lets readers and the one writer proceed side by side).

Each attempt keeps its full :class:`AttemptResult` JSON in ``data``; the other columns are copies
for queries by hand (``sqlite3 .agentbench/results.sqlite``) and may grow in later schemas. Each
run keeps, once it has ended, what its live report held beyond its attempts (``report``: the
environment, settings and models the report showed, and the sections the features and the gates
added, as opaque JSON), so ``agentbench report`` renders the same report (report/json_report.py).

Schema versions (``PRAGMA user_version``): 1, the first; 2 adds ``runs.report`` (NULL for runs
recorded before it, or that never reached their end). A version-1 file is migrated in place when a
plugin of this version opens it; a file newer than this plugin is refused before anything is
written.

Another process may hold the file locked (a ``sqlite3`` shell inside a transaction, a second run
committing): every write waits for the lock, with backoff, up to :data:`LOCK_WAIT_SECONDS` in all,
then raises :class:`StoreUnavailable`, which the plugin survives (records/history.py).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pytest_agentbench.agent.encoding import json_text
from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.records.ledger import model_label
from pytest_agentbench.schemas.results import AttemptResult

INFRA = "infra_error"

# How long one write waits, in all, for a lock another process holds. Long enough for any ordinary
# writer (a second run commits in milliseconds) and for a person to end a transaction they forgot
# in a sqlite3 shell; short enough that a benchmark does not stall on it.
LOCK_WAIT_SECONDS = 120.0
# The longest single wait inside SQLite's busy handler, and the longest pause between tries: a
# freed lock is noticed within seconds, and the overall wait above is kept to within a step.
_LOCK_STEP_SECONDS = 2.0
_FIRST_PAUSE_SECONDS = 0.05
# What a reader (the ``agentbench`` command, a resume) waits inside SQLite for a writer's lock.
_READ_BUSY_MS = 30_000

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started TEXT NOT NULL,
    finished TEXT,
    exit_status INTEGER,
    interrupted INTEGER NOT NULL DEFAULT 0,
    settings TEXT NOT NULL DEFAULT '{}',
    environment TEXT NOT NULL DEFAULT '{}',
    models TEXT NOT NULL DEFAULT '{}',
    report TEXT
);
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    canary TEXT NOT NULL,
    model TEXT NOT NULL,
    variant TEXT NOT NULL,
    repeat INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    turns INTEGER,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    wall_seconds REAL,
    malformed_tool_calls INTEGER,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, canary, model, variant, repeat)
);
CREATE INDEX IF NOT EXISTS attempts_run ON attempts(run_id);
"""

# Runs newest first; rowid breaks ties between runs started in the same instant.
_RUNS_QUERY = """
SELECT r.run_id, r.started, r.finished, r.exit_status, r.interrupted, r.settings, r.environment,
       r.models, COUNT(a.run_id), COALESCE(SUM(a.outcome = 'passed'), 0), r.report
FROM runs r LEFT JOIN attempts a ON a.run_id = r.run_id
{where}
GROUP BY r.run_id ORDER BY r.started DESC, r.rowid DESC
"""


class StoreError(AgentbenchError):
    """A problem with the results database, worded for the user (no traceback needed)."""


class NoRunsError(StoreError):
    """``last`` asked of a database that holds no (qualifying) run yet."""


class StoreUnavailable(StoreError):
    """The database could not be written just now: locked by another process past the wait
    (``locked``), or an error of the file itself (disk full, read-only). Nothing was written by
    the call that raised it; the same call may succeed later."""

    def __init__(self, message: str, locked: bool) -> None:
        super().__init__(message)
        self.locked = locked


def _is_lock(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return (code & 0xFF) in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED and their extended codes
    return "locked" in str(exc) or "busy" in str(exc)


def _retrying(conn: sqlite3.Connection, path: Path, action: Callable[[], _T],
              wait: float | None = None, on_wait: Callable[[float], None] | None = None) -> _T:
    """``action()``, tried again while another connection holds the lock, for up to ``wait``
    seconds (default :data:`LOCK_WAIT_SECONDS`) in all; each try rolls back whole, so a retry
    never doubles a row. Any other database error is raised as it is. ``on_wait(wait)`` is
    called once the wait has outlasted a moment, so a long one is not a silent stall."""
    wait = LOCK_WAIT_SECONDS if wait is None else wait
    started = time.monotonic()
    deadline = started + wait
    pause = _FIRST_PAUSE_SECONDS
    told = on_wait is None
    try:
        while True:
            # SQLite's own busy handler waits inside a try; bounded, so the deadline is checked.
            step = max(0.0, min(deadline - time.monotonic(), _LOCK_STEP_SECONDS))
            conn.execute(f"PRAGMA busy_timeout = {int(step * 1000)}")
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if not _is_lock(exc):
                    raise
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StoreUnavailable(
                        f"{path} is locked by another process (waited {wait:g} s): end that "
                        "process's transaction or close it (a sqlite3 shell, a second run)",
                        locked=True) from None
                if not told and time.monotonic() - started >= _LOCK_STEP_SECONDS:
                    on_wait(wait)
                    told = True
                time.sleep(min(pause, left))
                pause = min(pause * 2, _LOCK_STEP_SECONDS)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {_READ_BUSY_MS}")


@dataclass
class RunRecord:
    run_id: str
    started: str
    finished: str | None
    exit_status: int | None
    interrupted: bool
    settings: dict[str, Any]
    environment: dict[str, Any]
    models: dict[str, Any]
    attempts: int
    passed: int
    # What the run's live report held beyond its attempts (report/json_report.py's stored_parts);
    # None: not recorded (a run from before schema 2, or one that never reached its end).
    report: dict[str, Any] | None = None


def _dumps(value: dict) -> str:
    # default=str: settings may hold Paths and the like; the database only needs to show them.
    return json_text(value, sort_keys=True, default=str)


class ResultStore:
    SCHEMA_VERSION = 2

    def __init__(self, path: Path, *, wait: float | None = None,
                 on_wait: Callable[[float], None] | None = None) -> None:
        """``wait``: how long opening waits for another process's lock, default
        :data:`LOCK_WAIT_SECONDS` (each write takes its own); ``on_wait(wait)``: told whenever a
        wait for a lock is a long one."""
        self.path = Path(path)
        self.on_wait = on_wait
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # timeout: a reader (the CLI) waits for a writer's lock instead of failing.
            self._conn = sqlite3.connect(str(self.path), timeout=_READ_BUSY_MS / 1000)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a readable results database: {exc}") from None
        try:
            # Only a file not yet in WAL mode (new, or made by another tool) blocks a reader.
            version = _retrying(self._conn, self.path,
                                lambda: self._conn.execute("PRAGMA user_version").fetchone()[0],
                                wait, on_wait)
        except StoreUnavailable:
            self._conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(f"{self.path} is not a readable results database: {exc}") from None
        if version > self.SCHEMA_VERSION:
            self._conn.close()
            # Checked before anything is written: an older plugin must not touch a newer file.
            raise StoreError(
                f"{self.path} has schema version {version}, newer than the {self.SCHEMA_VERSION} this "
                "pytest-agentbench understands: upgrade pytest-agentbench or use another database"
            )
        try:
            _retrying(self._conn, self.path, lambda: self._setup(version), wait, on_wait)
        except StoreUnavailable:
            self._conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(f"cannot set up the results database {self.path}: {exc}") from None

    def _setup(self, version: int) -> None:
        self._conn.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL loses nothing on a process crash (only on power loss) and saves
        # an fsync per attempt.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        if version < self.SCHEMA_VERSION:
            # One transaction: a second process setting up (or migrating) the same file waits,
            # then finds nothing left to do. Each step is idempotent, so a file of any older
            # version (or a new one) ends in this schema.
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                columns = {row[1] for row in self._conn.execute("PRAGMA table_info(runs)")}
                if "report" not in columns:  # schema 1 -> 2
                    self._conn.execute("ALTER TABLE runs ADD COLUMN report TEXT")
                self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                                   (str(self.SCHEMA_VERSION),))
                self._conn.execute(f"PRAGMA user_version = {self.SCHEMA_VERSION}")
                self._conn.execute("COMMIT")
            except sqlite3.DatabaseError:
                if self._conn.in_transaction:  # a failed try leaves nothing behind to retry into
                    self._conn.rollback()
                raise

    def _write(self, action: Callable[[], _T], wait: float | None) -> _T:
        """One committed write, waiting out another process's lock (up to ``wait`` seconds,
        default :data:`LOCK_WAIT_SECONDS`). A file that cannot take it (locked past the wait,
        disk full, read-only) raises :class:`StoreUnavailable`."""
        try:
            return _retrying(self._conn, self.path, action, wait, self.on_wait)
        except (StoreUnavailable, sqlite3.IntegrityError):
            raise
        except sqlite3.DatabaseError as exc:
            raise StoreUnavailable(f"cannot write to {self.path}: {exc}", locked=False) from None

    # -- writing (controller only) ------------------------------------------------------------

    # Every write below commits at once and takes ``wait``: how long to wait for another
    # process's lock before raising StoreUnavailable (default LOCK_WAIT_SECONDS).

    def start_run(self, run_id: str, started: datetime, settings: dict, environment: dict,
                  models: dict, *, wait: float | None = None) -> None:
        """Record a new run; for an existing one (resume) refresh settings and models and mark it
        running again — its original start time and environment stay."""
        def write() -> None:
            with self._conn:
                self._conn.execute(
                    "INSERT INTO runs (run_id, started, settings, environment, models) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(run_id) DO UPDATE SET "
                    "settings = excluded.settings, models = excluded.models, "
                    "finished = NULL, exit_status = NULL, interrupted = 0",
                    (run_id, started.isoformat(), _dumps(settings), _dumps(environment), _dumps(models)),
                )
        self._write(write, wait)

    def add_attempt(self, run_id: str, result: AttemptResult, *, wait: float | None = None) -> None:
        """Upsert one attempt and commit at once, so a crash right after still keeps it."""
        # Not model_dump_json: it refuses the lone surrogates a model's text can hold.
        data = _dumps(result.model_dump(mode="json"))

        def write() -> None:
            with self._conn:
                self._conn.execute(
                    "INSERT OR REPLACE INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    # The variant column holds the cell variant: the agent is part of the key.
                    (run_id, result.canary, result.model, result.cell_variant, result.repeat,
                     result.outcome, result.turns, result.prompt_tokens, result.completion_tokens,
                     result.wall_seconds, result.malformed_tool_calls, data),
                )
        try:
            self._write(write, wait)
        except sqlite3.IntegrityError:
            raise StoreError(f"run {run_id!r} is not in {self.path}: call start_run first") from None

    def finish_run(self, run_id: str, finished: datetime, exit_status: int, interrupted: bool, *,
                   wait: float | None = None) -> None:
        def write() -> None:
            with self._conn:
                self._conn.execute(
                    "UPDATE runs SET finished = ?, exit_status = ?, interrupted = ? WHERE run_id = ?",
                    (finished.isoformat(), int(exit_status), int(interrupted), run_id),
                )
        self._write(write, wait)

    def update_settings(self, run_id: str, *, wait: float | None = None, **values: Any) -> None:
        """Merge keys into a run's settings: its plan (what it set out to run) is known only once
        collection is done, what went missing only at its end."""
        def write() -> None:
            with self._conn:
                row = self._conn.execute("SELECT settings FROM runs WHERE run_id = ?", (run_id,)).fetchone()
                if row is None:
                    raise StoreError(f"run {run_id!r} is not in {self.path}: call start_run first")
                settings = {**json.loads(row[0]), **values}
                self._conn.execute("UPDATE runs SET settings = ? WHERE run_id = ?", (_dumps(settings), run_id))
        self._write(write, wait)

    def save_report(self, run_id: str, parts: dict, *, wait: float | None = None) -> None:
        """Keep what the run's live report held beyond its attempts (report/json_report.py's
        ``stored_parts``), for ``agentbench report`` to render the same report."""
        def write() -> None:
            with self._conn:
                # Keys in the report's own order (not sorted): tables and columns keep theirs.
                self._conn.execute("UPDATE runs SET report = ? WHERE run_id = ?",
                                   (json_text(parts, default=str), run_id))
        self._write(write, wait)

    def update_models(self, run_id: str, models: dict, *, wait: float | None = None) -> None:
        """Models gain server details (preflight) only once attempts run: store them late."""
        def write() -> None:
            with self._conn:
                self._conn.execute("UPDATE runs SET models = ? WHERE run_id = ?", (_dumps(models), run_id))
        self._write(write, wait)

    # -- reading -------------------------------------------------------------------------------

    def _records(self, where: str = "", params: tuple = ()) -> list[RunRecord]:
        rows = self._conn.execute(_RUNS_QUERY.format(where=where), params).fetchall()
        return [
            RunRecord(run_id=row[0], started=row[1], finished=row[2], exit_status=row[3],
                      interrupted=bool(row[4]), settings=json.loads(row[5]),
                      environment=json.loads(row[6]), models=json.loads(row[7]),
                      attempts=row[8], passed=row[9],
                      report=None if row[10] is None else json.loads(row[10]))
            for row in rows
        ]

    def runs(self) -> list[RunRecord]:
        """Every run, newest first."""
        return self._records()

    def run(self, run_id: str) -> RunRecord | None:
        found = self._records("WHERE r.run_id = ?", (run_id,))
        return found[0] if found else None

    def resolve(self, run_ref: str, with_attempts: bool = False) -> str:
        """A run id from ``last``, a full id, or an unambiguous prefix of one (ids are long).
        ``with_attempts``: only runs holding at least one attempt (a run is recorded when it
        starts, so the latest may hold none — right for a resume, useless as a baseline)."""
        having = " WHERE EXISTS (SELECT 1 FROM attempts a WHERE a.run_id = runs.run_id)" if with_attempts else ""
        ids = [row[0] for row in self._conn.execute(
            f"SELECT run_id FROM runs{having} ORDER BY started DESC, rowid DESC")]
        if not ids:
            raise NoRunsError(f"no runs{' with attempts' if with_attempts else ''} recorded in {self.path} yet")
        if run_ref == "last":
            return ids[0]
        if run_ref in ids:
            return run_ref
        matches = [run_id for run_id in ids if run_id.startswith(run_ref)]
        if len(matches) == 1:
            return matches[0]
        latest = ", ".join(ids[:5])
        why = "is ambiguous" if matches else "is not"
        raise StoreError(f"run {run_ref!r} {why} in {self.path}; latest runs: {latest}")

    def attempts(self, run_id: str) -> list[AttemptResult]:
        rows = self._conn.execute(
            "SELECT data FROM attempts WHERE run_id = ? ORDER BY canary, model, variant, repeat",
            (run_id,),
        )
        # json.loads, not model_validate_json: pydantic's parser refuses an escaped lone surrogate.
        return [AttemptResult.model_validate(json.loads(row[0])) for row in rows]

    def plan(self, run_id: str) -> dict[str, list[str]]:
        """The canaries and model labels (``name`` or ``name/variant``) a run set out to run —
        recorded when it started — plus any it has attempts of (runs from before plans were kept
        have only those, and their models)."""
        record = self.run(run_id)
        if record is None:
            raise StoreError(f"run {run_id!r} is not in {self.path}")
        plan = record.settings.get("plan") or {}
        canaries, models = set(plan.get("canaries", [])), set(plan.get("models", []))
        if not plan:
            models.update(record.models)
        for canary, model, variant in self._conn.execute(
                "SELECT DISTINCT canary, model, variant FROM attempts WHERE run_id = ?", (run_id,)):
            canaries.add(canary)
            models.add(model_label(model, variant))
        return {"canaries": sorted(canaries), "models": sorted(models)}

    def done_keys(self, run_id: str) -> set[tuple[str, str, str, int]]:
        """Attempts a resume may skip; infra errors say nothing about the model, so they re-run."""
        rows = self._conn.execute(
            "SELECT canary, model, variant, repeat FROM attempts WHERE run_id = ? AND outcome != ?",
            (run_id, INFRA),
        )
        return {(canary, model, variant, repeat) for canary, model, variant, repeat in rows}

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ResultStore:  # noqa: PYI034 (typing.Self needs 3.11)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
