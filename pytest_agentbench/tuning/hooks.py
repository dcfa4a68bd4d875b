"""The tuning package's plugin, registered in every benchmarking process (features.py): it
chooses the models and variants of an OFAT, all-on or ceilings run, runs only the source run's
cells of an all-on or ceilings run, adds the next tier up to the run's tiers with
``--agentbench-tier-up``, records each attempt's progress on its expected files, and adds the OFAT
table, the ceilings, the tier-up lines and the progress to the terminal summary and the report —
all through the plugin's own hooks, as a ``conftest.py`` would."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_agentbench.run.attempt_hooks import attempt_parts
from pytest_agentbench.run.options import option_value
from pytest_agentbench.run.session import AgentbenchSession
from pytest_agentbench.run.settings import results_db_path
from pytest_agentbench.run.variants import ModelChoice, SweepError, VariantChoice
from pytest_agentbench.schemas.models import ModelSpec
from pytest_agentbench.tuning import all_on, ceilings
from pytest_agentbench.tuning.ceilings import FactorError
from pytest_agentbench.tuning.ofat import OFAT, ofat_table
from pytest_agentbench.tuning.plan import tuning_source, tuning_variants
from pytest_agentbench.tuning.progress import expect_progress, progress_line, progress_rows
from pytest_agentbench.tuning.render import ceiling_lines, ofat_lines
from pytest_agentbench.tuning.source import SourceError, SourceRun, load_source, source_models
from pytest_agentbench.tuning.tier_up import KEY as TIER_UP
from pytest_agentbench.tuning.tier_up import (
    TierUpError,
    tier_up_lines,
    tier_up_rows,
    tiers_with_next,
)

if TYPE_CHECKING:
    from pytest_agentbench.attempt.verify import Verification
    from pytest_agentbench.schemas.canary import Canary
    from pytest_agentbench.schemas.results import AttemptResult


class TuningHooks:
    NAME = "agentbench-tuning"

    def __init__(self) -> None:
        self.session: AgentbenchSession = None  # type: ignore[assignment]  (set as the session starts)
        self._sources: dict[str, SourceRun] = {}
        # (option, run) of --agentbench-all-on / --agentbench-ceilings, read as the options are
        self.source: tuple[str, SourceRun] | None = None
        # --agentbench-tier-up: the tiers asked for ([]: every tier), before the next ones were added
        self.tier_up: list[str] | None = None
        self.wants_tier_up = False

    # -- the run's models and variants (every process, as its session starts) -----------------

    def pytest_agentbench_select_models(self, config: pytest.Config, registry: dict[str, ModelSpec],
                                        base_url: str, model_names: list[str]) -> ModelChoice | None:
        """An all-on cell and a ceilings run benchmark the source run's models."""
        self.wants_tier_up = bool(option_value(config, "tier_up"))  # read now: the session has no config
        try:
            self.source = tuning_source(config, results_db_path(config))
            if self.source is None:
                return None
            option, run = self.source
            return ModelChoice(option, source_models(run, registry, base_url, model_names, option))
        except SourceError as exc:
            raise pytest.UsageError(str(exc)) from None

    def pytest_agentbench_variants(self, config: pytest.Config, models: list[ModelSpec],
                                   directives: dict[str, str], confidence: float) -> VariantChoice | None:
        sweeps = list(config.getoption("agentbench_sweep") or config.getini("agentbench_sweep"))
        ofat = list(config.getoption("agentbench_ofat") or config.getini("agentbench_ofat"))
        source = self.source
        chosen = [name for name, given in (("--agentbench-sweep", sweeps), ("--agentbench-ofat", ofat),
                                           (source[0] if source else "", source)) if given]
        if len(chosen) > 1:
            raise pytest.UsageError(f"{' and '.join(chosen)} cannot be combined: a run is a sweep, an "
                                    "OFAT run, an all-on cell or a ceilings run")
        if not ofat and source is None:
            return None  # a sweep, or no variant: the core's own
        option = chosen[0]
        try:
            return VariantChoice(option, tuning_variants(option, ofat, models, directives, source,
                                                         confidence, option_value(config, "ceiling_factors")))
        except (SweepError, SourceError, FactorError) as exc:
            raise pytest.UsageError(str(exc)) from None

    def pytest_agentbench_session_started(self, session: AgentbenchSession) -> None:
        self.session = session
        if self.wants_tier_up:
            # The next tier up joins the run's tiers: the core keeps its items at collection.
            asked = list(session.settings.tiers)
            try:
                session.settings.tiers = tiers_with_next(asked)
            except TierUpError as exc:
                raise pytest.UsageError(str(exc)) from None
            self.tier_up = asked

    def pytest_agentbench_annotate(self, result: AttemptResult, canary: Canary,
                                   verification: Verification) -> None:
        # How many of the files the task must change were changed: progress on a failed attempt.
        result.progress = expect_progress(verification.change, canary.verify.expect_changed,
                                          sorted(canary.files.solution))

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
        if self.tier_up is not None:
            asked = self.tier_up
            found[TIER_UP] = {"asked": asked, "added": [t for t in settings.tiers if t not in asked],
                              "rows": tier_up_rows(results, asked, settings.gates, settings.gate_mode,
                                                   confidence)}
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
        if TIER_UP in tables:
            terminalreporter.write_sep("=", "agentbench tier-up")
            for line in tier_up_lines(tables[TIER_UP]["rows"], settings.confidence):
                terminalreporter.write_line(line)
        if "progress" in tables:
            terminalreporter.write_line("progress on discriminators (expect_changed files changed):")
            for row in tables["progress"]:
                terminalreporter.write_line(f"  {progress_line(row)}")

    def pytest_agentbench_report(self, report: dict[str, Any]) -> None:
        report.update(self.tables())
