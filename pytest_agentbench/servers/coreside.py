"""Models that share a machine (the docs' "Models that share a machine").

``--agentbench-coreside A,B`` names models that must fit side by side (the coder, describer
and judge; a field report: 81 GB + 29 GB on a 96 GB machine swapped). At session start, on the controller:
their declared ``memory`` (registry) together must fit ``--agentbench-memory-budget`` (default:
the machine's RAM minus a margin); then their managed servers are started, all of them, before the
first attempt, and kept up for the session; what they measure (resident + GPU, a declared figure
where it is larger) must fit too. Either refusal is a usage error that names every model and its
memory — before the machine swaps, not after.

Every managed server's memory (servers/memory.py) goes into the JSON models block
(``models.NAME.memory``) and a summary line, through the plugin's own report hooks.

Where memory cannot be measured (no /proc: macOS, a BSD) the session header says so, and the
set is checked by the declared sizes alone — before the run and after each attempt; a model
with none declared is named there as not counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_agentbench.servers.memory import (
    MemoryReading,
    default_budget,
    human,
    parse_size,
    read_memory,
    unmeasurable,
)

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_agentbench.run.session import AgentbenchSession
    from pytest_agentbench.schemas.models import ModelSpec


class MemoryHooks:
    NAME = "agentbench-memory"

    def __init__(self, session: AgentbenchSession, rootdir: Path, coreside: str | None,
                 budget: str | None) -> None:
        self.session, self.rootdir = session, rootdir
        self.names = [n.strip() for n in (coreside or "").split(",") if n.strip()]
        try:
            self.budget = parse_size(budget, "--agentbench-memory-budget") if budget else default_budget()
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.budget_given = budget is not None
        self.at_start: dict[str, dict[str, Any]] = {}  # what the co-resident set measured at start
        self._readings: dict[str, MemoryReading | None] | None = None
        self._session: pytest.Session | None = None  # the run the watchdog may stop
        self.grew_past: str = ""  # why the watchdog stopped the run ('' while it has not)
        self._specs: list[ModelSpec] | None = None
        self._unmeasurable: str | None = None

    def why_unmeasured(self) -> str:
        """Why memory cannot be measured here ('' when it can), found once."""
        if self._unmeasurable is None:
            self._unmeasurable = unmeasurable()
        return self._unmeasurable

    def fallback_line(self) -> str:
        """The header's line where memory cannot be measured: what the set is checked by."""
        why = self.why_unmeasured()
        if not why:
            return ""
        if not self.names:
            return f"agentbench: memory cannot be measured here ({why}): managed servers' memory is not reported"
        each = ", ".join(f"{spec.name} {human(parse_size(spec.memory))}" if spec.memory
                         else f"{spec.name} none declared (not counted)" for spec in self.specs_now())
        return (f"agentbench: memory cannot be measured here ({why}): the co-resident models are "
                f"checked by their declared memory (registry `memory`): {each}")

    def pytest_report_header(self, config: pytest.Config) -> list[str] | None:
        if not self.names or config.option.collectonly:
            return None
        line = self.fallback_line()
        return [line] if line else None

    # -- preflight ---------------------------------------------------------------------------------

    def specs(self) -> list[ModelSpec]:
        from pytest_agentbench.schemas.models import ModelConfigError, load_registry

        run = {model.name: model for model in self.session.settings.models}
        try:
            registry = load_registry(self.rootdir)
        except ModelConfigError as exc:
            raise pytest.UsageError(f"--agentbench-coreside: {exc}") from None
        unknown = [n for n in self.names if n not in run and n not in registry]
        if unknown:
            raise pytest.UsageError(f"--agentbench-coreside: {', '.join(map(repr, unknown))}: neither a model "
                                    f"of this run (--models) nor in the model registry of {self.rootdir}")
        return [run.get(name) or registry[name] for name in self.names]

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """The co-resident models' attempts of each canary interleaved (A r0, B r0, A r1, B r1):
        they take turns on the machine instead of one model's repeats running back to back. Only
        the slots those attempts already hold are reordered; everything else stays where it is."""
        if not self.names:
            return
        by_canary: dict[str, list[int]] = {}
        for index, item in enumerate(items):
            model = getattr(getattr(item, "model", None), "name", None)
            if model in self.names and hasattr(item, "canary") and hasattr(item, "repeat"):
                by_canary.setdefault(item.canary.id, []).append(index)
        for slots in by_canary.values():
            ordered = sorted((items[i] for i in slots),
                             key=lambda it: (it.repeat, self.names.index(it.model.name)))
            for slot, item in zip(slots, ordered):
                items[slot] = item

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if not self.names or not self.session.is_controller or session.config.option.collectonly:
            return
        self._session = session
        specs = self.specs_now()
        if self.budget is None:
            raise pytest.UsageError("--agentbench-coreside: the machine's RAM cannot be read "
                                    "(/proc/meminfo, sysconf): give --agentbench-memory-budget")
        declared = {spec.name: parse_size(spec.memory) for spec in specs if spec.memory}
        self._refuse_over_budget("declared", declared, specs)
        measured: dict[str, int] = {}
        for spec in specs:
            if spec.server is None:
                continue  # not ours to start: its declared memory is all we know
            from pytest_agentbench.servers.managed import ServerStartError

            try:
                self.session.ensure_endpoint(spec)
            except ServerStartError:
                continue  # its attempts say so (infra_error), as without co-residence
            if self.why_unmeasured():
                continue  # started all the same (the set runs together); its declared memory counts
            state = self.session.servers.current(spec.name)
            reading = read_memory(state.pid) if state is not None else None
            if reading is not None:
                measured[spec.name] = reading.total_now
                self.at_start[spec.name] = reading.to_json()
        combined = {name: max(declared.get(name, 0), measured.get(name, 0))
                    for name in {*declared, *measured}}
        try:
            self._refuse_over_budget("measured", combined, specs)
        except pytest.UsageError:
            self.session.servers.stop_all()  # refused: nothing stays loaded
            raise

    # -- during the run ----------------------------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """After each attempt (on the controller, which started the set): the co-resident servers'
        memory now, with each model's declared figure where that is larger. A set that has grown
        past the budget — a KV cache filled by long contexts — stops the run before the next
        attempt starts: the machine would swap next (and lock up). Finished attempts
        stay; the rest are reported missing and the run incomplete."""
        if report.when != "call" or self._session is None or self.grew_past or self.budget is None:
            return
        sizes: dict[str, int] = {}
        for spec in self.specs_now():
            declared = parse_size(spec.memory) if spec.memory else 0
            measurable = spec.server is not None and not self.why_unmeasured()
            state = self.session.servers.current(spec.name) if measurable else None
            reading = read_memory(state.pid) if state is not None else None
            sizes[spec.name] = max(declared, reading.total_now if reading is not None else 0)
        total = sum(sizes.values())
        if total <= self.budget:
            return
        each = ", ".join(f"{name} {human(size)}" for name, size in sizes.items())
        self.grew_past = (f"agentbench: co-resident models {', '.join(self.names)} grew to {human(total)} "
                          f"({each}), past the {human(self.budget)} memory budget: no further "
                          "attempt is started (the machine would swap next)")
        self._session.shouldstop = self.grew_past
        dsession = self._session.config.pluginmanager.getplugin("dsession")  # xdist's controller
        if dsession is not None:
            dsession.shouldstop = self.grew_past

    def specs_now(self) -> list[ModelSpec]:
        """The co-resident models' specs, read once (the registry does not change mid-run)."""
        if self._specs is None:
            self._specs = self.specs()
        return self._specs

    def _refuse_over_budget(self, how: str, sizes: dict[str, int], specs: list[ModelSpec]) -> None:
        total = sum(sizes.values())
        if self.budget is None or total <= self.budget:
            return
        each = ", ".join(f"{spec.name} {human(sizes[spec.name]) if spec.name in sizes else 'unknown'}"
                         for spec in specs)
        where = "--agentbench-memory-budget" if self.budget_given else "the machine's RAM minus a margin"
        raise pytest.UsageError(
            f"--agentbench-coreside: {', '.join(self.names)} need {human(total)} together ({how}: "
            f"{each}), more than the {human(self.budget)} budget ({where}): running them side by "
            "side would swap. Drop a model from the set, use smaller ones, or raise the budget.")

    # -- the reports -------------------------------------------------------------------------------

    def readings(self) -> dict[str, MemoryReading | None]:
        """Every managed server of the run, read once at the end (VmHWM is already the peak)."""
        if self._readings is None:
            self._readings = {}
            for model in self.session.settings.models:
                state = self.session.servers.current(model.name) if model.server is not None else None
                if state is not None:
                    self._readings[model.name] = None if self.why_unmeasured() else read_memory(state.pid)
        return self._readings

    def pytest_agentbench_report(self, report: dict[str, Any]) -> None:
        models = report.setdefault("models", {})
        declared = {m.name: m.memory for m in self.session.settings.models if m.memory}
        why = self.why_unmeasured()
        for name, reading in self.readings().items():
            entry = models.setdefault(name, {})
            entry["memory"] = {**(reading.to_json() if reading else {}), "declared": declared.get(name)}
            if why:
                entry["memory"]["not_measured"] = why
        if self.names:
            report["coreside"] = {"models": self.names, "budget_bytes": self.budget,
                                  "at_start": self.at_start, "grew_past_budget": self.grew_past or None,
                                  # False: no /proc here; the set was checked by declared memory
                                  "measured": not why, "not_measured": why or None}

    def pytest_agentbench_summary(self, aggregates: list[dict[str, Any]], terminalreporter: Any) -> None:
        why = self.why_unmeasured()
        for name, reading in self.readings().items():
            if reading is None:
                if why:
                    spec = next((m for m in self.session.settings.models if m.name == name), None)
                    declared = f"declared {human(parse_size(spec.memory))}" if spec and spec.memory else "none declared"
                    terminalreporter.write_line(f"memory: {name}: not measured ({why}); {declared}")
                continue
            gpu = f", GPU {human(reading.gpu)}" if reading.gpu is not None else ""
            terminalreporter.write_line(f"memory: {name}: peak resident {human(reading.peak_rss)}"
                                        f"{gpu} (managed server, {reading.processes} process(es))")
        if self.names and self.grew_past:
            terminalreporter.write_line(f"co-resident: STOPPED: {self.grew_past.removeprefix('agentbench: ')}")
        elif self.names:
            by = " by their declared memory (not measured here)" if why else ""
            terminalreporter.write_line(f"co-resident: {', '.join(self.names)} within a "
                                        f"{human(self.budget)} budget{by}")
