"""The tuning package's plugin, registered in every benchmarking process (startup.py): it
runs only the source run's cells of an all-on or ceilings
run, and adds the OFAT table, the ceilings and the progress to the terminal summary and the
report through the plugin's own hooks (pytest_agentbench_summary / pytest_agentbench_report)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_agentbench.attempt_hooks import attempt_parts
from pytest_agentbench.session import AgentbenchSession
from pytest_agentbench.tuning import all_on, ceilings
from pytest_agentbench.tuning.ofat import OFAT, ofat_table
from pytest_agentbench.tuning.progress import progress_line, progress_rows
from pytest_agentbench.tuning.render import ceiling_lines, ofat_lines
from pytest_agentbench.tuning.source import SourceRun, load_source


class TuningHooks:
    NAME = "agentbench-tuning"

    def __init__(self, session: AgentbenchSession) -> None:
        self.session = session
        self._sources: dict[str, SourceRun] = {}

    # -- running -----------------------------------------------------------------------------

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """An all-on run runs the source run's canaries; a ceilings run only its budget cells."""
        wanted = {}
        for variant in self.session.settings.variants:
            if all_on.KEY in variant.tuning:
                canaries = set(variant.tuning[all_on.KEY]["canaries"])
                wanted[variant.name] = lambda model, canary, c=canaries: canary in c
            elif ceilings.KEY in variant.tuning:
                cells = variant.tuning[ceilings.KEY]["cells"]
                wanted[variant.name] = lambda model, canary, c=cells: canary in c.get(model, ())
        if not wanted:
            return
        keep, drop = [], []
        for item in items:
            parts = attempt_parts(item)
            test = wanted.get(parts[1].variant) if parts is not None else None
            (keep if test is None or test(parts[1].name, parts[0].id) else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    # -- reporting (the controller) -------------------------------------------------------------

    def _source(self, run_id: str, option: str) -> SourceRun:
        if run_id not in self._sources:
            self._sources[run_id] = load_source(self.session.settings.db_path, run_id, option)
        return self._sources[run_id]

    def tables(self) -> dict[str, Any]:
        """The report's ``ofat``, ``ceilings`` and ``progress`` for this run (absent when empty)."""
        settings, results = self.session.settings, self.session.results
        records = {v.name: v.tuning for v in settings.variants if v.tuning}
        confidence = settings.confidence
        found: dict[str, Any] = {}
        if any(OFAT in record for record in records.values()):
            found["ofat"] = ofat_table(results, records, confidence)
        on = next((record[all_on.KEY] for record in records.values() if all_on.KEY in record), None)
        if on is not None:
            source = self._source(on["source_run"], "--agentbench-all-on")
            found["ofat"] = {**ofat_table(source.attempts, source.tuning, confidence),
                             "source_run": source.run_id,
                             "all_on": all_on.all_on_rows(results, source.attempts, on, confidence)}
        raised = {name: record[ceilings.KEY] for name, record in records.items() if ceilings.KEY in record}
        if raised:
            run_id = next(iter(raised.values()))["source_run"]
            source = self._source(run_id, "--agentbench-ceilings")
            found["ceilings"] = ceilings.ceiling_rows(results, source.attempts, raised, confidence)
        progress = progress_rows(results)
        if progress:
            found["progress"] = progress
        return found

    def pytest_agentbench_summary(self, aggregates: list[dict[str, Any]], terminalreporter: Any) -> None:
        tables = self.tables()
        settings = self.session.settings
        if "ofat" in tables:
            source = tables["ofat"].get("source_run")
            title = f"agentbench OFAT of run {source} + all-on" if source else "agentbench OFAT"
            terminalreporter.write_sep("=", title)
            for line in ofat_lines(tables["ofat"], settings.confidence, settings.repeats):
                terminalreporter.write_line(line)
        if "ceilings" in tables:
            terminalreporter.write_sep("=", "agentbench ceilings")
            for line in ceiling_lines(tables["ceilings"]):
                terminalreporter.write_line(line)
        if "progress" in tables:
            terminalreporter.write_line("progress on discriminators (expect_changed files changed):")
            for row in tables["progress"]:
                terminalreporter.write_line(f"  {progress_line(row)}")

    def pytest_agentbench_report(self, report: dict[str, Any]) -> None:
        report.update(self.tables())
