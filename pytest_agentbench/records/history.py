"""The plugin's side of the results database: record each attempt as it finishes (on the
controller only), resume an earlier run, and compare this run with a baseline.

The database never costs a run an attempt. A write that cannot be made — another process holds
the file locked past ``store.LOCK_WAIT_SECONDS``, the disk is full — leaves what it was to write
in memory (the attempts are in the reports anyway), the run goes on, and the next write takes
everything still owed, oldest first. What the database still lacks at the end is named in the
terminal summary (run/controller.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_agentbench.attempt.identity import AttemptKey, attempt_key
from pytest_agentbench.records import store as store_module
from pytest_agentbench.records.store import ResultStore, StoreError, StoreUnavailable
from pytest_agentbench.report.json_report import environment, run_settings, stored_parts
from pytest_agentbench.run.session import AgentbenchSession
from pytest_agentbench.schemas.results import AttemptResult

# Once a write has given up, later ones wait at most this long: a database that stays locked must
# not stall the run a full wait per attempt, yet one that frees is noticed at the next attempt.
RECHECK_SECONDS = 1.0


def _to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")


def attempt_name(result: AttemptResult) -> str:
    """How the user knows an attempt: its test id (a bare key for one from an old record)."""
    return result.nodeid or f"{result.canary}[{result.model}-{result.cell_variant}-r{result.repeat}]"


class RunRecorder:
    """Writes the run and its attempts; the database is opened only once there is something to
    write, so test runs that benchmark nothing never create it. ``warn`` shows a line to the
    user at once (the terminal)."""

    def __init__(self, session: AgentbenchSession, db_path: Path,
                 warn: Callable[[str], None] = _to_stderr) -> None:
        self.session = session
        self.db_path = db_path
        self.warn = warn
        self._store: ResultStore | None = None
        self._active = False  # something of this run is owed to the database
        self._run_written = False
        self._settings: dict[str, Any] = {}  # run settings not written yet (plan, missing)
        self._unsaved: dict[AttemptKey, AttemptResult] = {}  # finished, not in the database yet
        # Why the last write failed; None: it did not, and the database holds all it was given.
        self.problem: str | None = None

    @property
    def unsaved(self) -> list[AttemptResult]:
        """Finished attempts the database does not hold (yet)."""
        return list(self._unsaved.values())

    def begin(self, plan: dict[str, list[str]]) -> None:
        """Record the run and what it sets out to run, before any attempt finishes. A file that
        is no results database, or cannot be written for a reason other than a lock, raises
        :class:`StoreError` now, before any attempt is spent; a lock is waited out or survived."""
        self._settings["plan"] = plan
        self._save("this run", strict=True)

    def record(self, result: AttemptResult) -> None:
        self._unsaved[attempt_key(result.canary, result.model, result.variant, result.repeat,
                                  result.agent)] = result
        self._save(attempt_name(result))  # committed now: a Ctrl-C or a crash keeps it

    def finish(self, exit_status: int, interrupted: bool, missing: list[str] | None = None,
               report: dict[str, Any] | None = None) -> None:
        """The run's end: what went missing (``missing``), the models' server details, what the
        live ``report`` held beyond the attempts (its end time is the run's) and the exit
        status, after anything still owed."""
        if not self._active:
            return
        if missing is not None:
            self._settings["missing"] = missing
        session = self.session
        models = {m.name: {**m.describe(), "base_url": session.endpoint_of(m), "server": session.server_info.get(m.name)}
                  for m in session.settings.models}
        finished = (datetime.fromisoformat(report["finished"]) if report and report.get("finished")
                    else datetime.now(timezone.utc))

        def end(store: ResultStore, wait: float | None) -> None:
            store.update_models(session.run_id, models, wait=wait)
            if report is not None:
                store.save_report(session.run_id, stored_parts(report), wait=wait)
            store.finish_run(session.run_id, finished, int(exit_status), interrupted, wait=wait)

        self._save("the end of this run", then=end)
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- writing -----------------------------------------------------------------------------------

    def _waiting(self, wait: float) -> None:
        self.warn(f"agentbench: the results database {self.db_path} is locked by another process; "
                  f"waiting up to {wait:g} s for it")

    def _save(self, what: str, strict: bool = False,
              then: Callable[[ResultStore, float | None], None] | None = None) -> None:
        """Write everything owed (the run, its settings, the attempts), then ``then``. On failure
        keep it all for the next write, and tell the user the first time."""
        self._active = True
        # A database that just failed gets a short look per write, not a full wait.
        wait = None if self.problem is None else min(RECHECK_SECONDS, store_module.LOCK_WAIT_SECONDS)
        run_id = self.session.run_id
        try:
            if self._store is None:
                self._store = ResultStore(self.db_path, wait=wait, on_wait=self._waiting)
            store = self._store
            if not self._run_written:
                settings = self.session.settings
                # The sandbox too: a run that never reaches its end still says how it was isolated.
                store.start_run(run_id, self.session.started, run_settings(settings),
                                {**environment(), **self.session.sandbox_environment()},
                                {m.name: m.describe() for m in settings.models}, wait=wait)
                self._run_written = True
            if self._settings:
                store.update_settings(run_id, wait=wait, **self._settings)
                self._settings = {}
            for key, result in list(self._unsaved.items()):
                store.add_attempt(run_id, result, wait=wait)
                del self._unsaved[key]
            if then is not None:
                then(store, wait)
        except StoreError as exc:
            if strict and not (isinstance(exc, StoreUnavailable) and exc.locked):
                self._active = False  # the run stops on this: nothing is owed to this file
                raise
            if self.problem is None:
                self.warn(f"agentbench: WARNING cannot record {what} in the results database: {exc}. "
                          "The run goes on: what the database lacks is kept in memory and in the "
                          "reports, and written as soon as the database takes writes again")
            self.problem = str(exc)
            return
        if self.problem is not None:
            self.problem = None
            self.warn(f"agentbench: the results database {self.db_path} takes writes again: "
                      "everything kept for it is written")
