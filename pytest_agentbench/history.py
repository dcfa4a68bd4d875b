"""The plugin's side of the results database: record each attempt as it finishes (on the
controller only), resume an earlier run, and compare this run with a baseline."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from pytest_agentbench.report.json_report import environment, run_settings
from pytest_agentbench.results import AttemptResult, cell_variant
from pytest_agentbench.session import AgentbenchSession
from pytest_agentbench.store import ResultStore

AttemptKey = tuple[str, str, str, int]


def attempt_key(canary: str, model: str, variant: str, repeat: int, agent: str = "builtin") -> AttemptKey:
    # The agent is part of an attempt's identity (issue 18), in the variant slot (results.py).
    return (canary, model, cell_variant(variant, agent), repeat)


class RunRecorder:
    """Writes the run and its attempts; the database is opened only once there is something to
    write, so test runs that benchmark nothing never create it."""

    def __init__(self, session: AgentbenchSession, db_path: Path) -> None:
        self.session = session
        self.db_path = db_path
        self._store: ResultStore | None = None

    @property
    def store(self) -> ResultStore:
        if self._store is None:
            self._store = ResultStore(self.db_path)
            settings = self.session.settings
            self._store.start_run(
                self.session.run_id, self.session.started, run_settings(settings),
                environment(), {m.name: m.describe() for m in settings.models},
            )
        return self._store

    def record(self, result: AttemptResult) -> None:
        self.store.add_attempt(self.session.run_id, result)

    def finish(self, exit_status: int, interrupted: bool) -> None:
        if self._store is None:
            return
        models = {m.name: {**m.describe(), "base_url": self.session.endpoint_of(m), "server": self.session.server_info.get(m.name)}
                  for m in self.session.settings.models}
        self._store.update_models(self.session.run_id, models)
        self._store.finish_run(self.session.run_id, datetime.now(timezone.utc), int(exit_status),
                               interrupted)
        self._store.close()
        self._store = None
