"""The controller's run (the only process under plain pytest; xdist's controller under ``-n``):
results arrive on test reports, the ledger tracks which attempts the run owes, and at the end
the baseline comparison, the gates, the reports and the database record are settled here.

Registered as a plugin when the session starts (run/startup.py); never on xdist workers.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_agentbench.records.compare import UsageError, compare_rows, load_results
from pytest_agentbench.records.history import RunRecorder, attempt_name
from pytest_agentbench.records.ledger import (
    Ledger,
    describe_difference,
    merge_plans,
    model_label,
    parse_attempt_nodeid,
    plan_difference,
)
from pytest_agentbench.records.store import StoreError
from pytest_agentbench.report.html_report import write_html
from pytest_agentbench.report.json_report import build_report, write_report
from pytest_agentbench.report.summary import aggregate_rows
from pytest_agentbench.report.terminal import write_run_summary
from pytest_agentbench.run.attempt_hooks import item_attempt
from pytest_agentbench.run.gates import evaluate, evaluate_cheat_rate
from pytest_agentbench.run.session import AgentbenchSession
from pytest_agentbench.run.state import COLLECTOR_NAME, SERVER_STOP, SERVER_UNUSABLE, result_of
from pytest_agentbench.run.xdist_support import bring_transcript_home
from pytest_agentbench.schemas.results import AttemptResult, cell_variant


class ResultCollector:
    """The controller's run state: gathers results (with xdist, reports arrive from the workers),
    keeps the ledger of collected attempts, and what differs from a resumed run."""

    NAME = COLLECTOR_NAME

    def __init__(self, session: AgentbenchSession, recorder: RunRecorder, max_infra_rate: float,
                 resumed: dict[str, list[str]] | None) -> None:
        self.session = session
        self.recorder = recorder
        self.max_infra_rate = max_infra_rate
        self.resumed = resumed  # the plan of the run --agentbench-resume continues
        self.selection: dict[str, list[str]] | None = None  # this session's canaries, done or not
        self.ledger = Ledger()
        self.begun = False
        self.kept_report: Path | None = None  # written only for attempts the database lacks

    @classmethod
    def of(cls, config: pytest.Config) -> ResultCollector | None:
        """The controller's run state; None on xdist workers and before the session starts."""
        return config.pluginmanager.get_plugin(cls.NAME)

    def begin(self, plan: dict[str, list[str]]) -> None:
        """Record the run now, before any attempt finishes: an interrupt in the first attempt
        must leave this run (not the previous one) as `last` for --agentbench-resume."""
        self.begun = True
        self.selection = plan
        try:
            self.recorder.begin(merge_plans(self.resumed or {}, plan))
        except StoreError as exc:
            raise pytest.UsageError(f"--agentbench-db: {exc}") from None

    def expect_node_ids(self, ids: list[str], terminal: Any) -> None:
        """Under xdist: the attempts among a worker's collected node ids (the resume warnings go
        to ``terminal``, pytest's terminal reporter, when there is one)."""
        models = self.session.settings.attempt_models()
        for nodeid in ids:
            attempt = parse_attempt_nodeid(nodeid, models)
            if attempt is not None:
                self.ledger.expect(attempt)
        if self.ledger.expected:
            # The workers have their copy of the environment now; the controller's keys go to
            # memory too (docs: "Sandbox": what the none tier cannot hide).
            self.session.guard_secrets()
        if self.ledger.expected and not self.begun:
            self.begin(merge_plans(self.ledger.plan(), complete_canaries(self.session)))
            for line in self.canary_warnings():
                if terminal is not None:
                    terminal.write_line(line, yellow=True)

    def model_warnings(self) -> list[str]:
        if self.resumed is None:
            return []
        now = {"models": [model_label(m.name, m.variant, m.agent) for m in self.session.settings.attempt_models()]}
        line = describe_difference(self.session.run_id, "models",
                                   plan_difference(self.resumed, now, "models"))
        return [line] if line else []

    def canary_warnings(self) -> list[str]:
        if self.resumed is None or self.selection is None:
            return []
        line = describe_difference(self.session.run_id, "canaries",
                                   plan_difference(self.resumed, self.selection, "canaries"))
        return [line] if line else []

    def resume_difference(self) -> dict[str, Any] | None:
        """The JSON report's ``resume``: what this session ran beyond, or short of, the run."""
        if self.resumed is None:
            return None
        selection = self.selection or {"canaries": self.resumed.get("canaries", [])}
        now = {"models": [model_label(m.name, m.variant, m.agent) for m in self.session.settings.attempt_models()],
               "canaries": selection.get("canaries", [])}
        return {"run_id": self.session.run_id,
                "models": plan_difference(self.resumed, now, "models"),
                "canaries": plan_difference(self.resumed, now, "canaries")}

    # -- hooks -------------------------------------------------------------------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # Without xdist the controller collects the items itself (else: expect_node_ids).
        if session.config.option.collectonly:
            return
        for item in session.items:
            attempt = item_attempt(item)
            if attempt is not None:
                self.ledger.expect(attempt)
        if self.ledger.expected:
            plan = self.ledger.plan()
            if self.selection is not None:
                plan = merge_plans(plan, self.selection)
            self.begin(plan)

    def pytest_report_collectionfinish(self, config: pytest.Config) -> list[str]:
        return self.canary_warnings()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        result = result_of(report)
        self.ledger.saw_report(report.nodeid, result is not None, report.keywords)
        if result is None:
            return
        # A worker on another host (--tx ssh=...) sent its transcript along: keep it here, by
        # the database, and record this path rather than one on the worker's filesystem.
        bring_transcript_home(report, result, self.session.run_dir)
        attempt = AttemptResult.model_validate(result)
        self.session.results.append(attempt)
        self.recorder.record(attempt)  # kept in memory (above) if the database cannot take it
        if attempt.server:  # workers preflight their endpoints; the report needs one copy
            self.session.server_info.setdefault(attempt.model, attempt.server)
        self.session.hook.pytest_agentbench_attempt_finished(result=attempt)

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        state = self.session
        write_run_summary(terminalreporter, state, self.ledger.missing(), self.ledger.never_ran())
        lines = unrecorded_lines(self.recorder, state.settings.json_path or self.kept_report)
        if lines:
            terminalreporter.write_sep("=", "agentbench: not in the results database", yellow=True)
            for line in lines:
                terminalreporter.write_line(line, yellow=True)
        if state.results:
            settings = state.settings
            ordered = sorted(state.results, key=lambda r: (r.canary, r.model, r.cell_variant, r.repeat))
            state.hook.pytest_agentbench_summary(
                aggregates=aggregate_rows(ordered, settings.ks, settings.confidence),
                terminalreporter=terminalreporter)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        state, settings = self.session, self.session.settings
        gated = session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED,
                                       pytest.ExitCode.NO_TESTS_COLLECTED)
        if settings.baseline:
            state.regressions = baseline_regressions(state)
            if settings.fail_on_regression and gated and state.regressions:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        missing = self.ledger.missing()
        if settings.gates or settings.max_cheat_rate is not None:
            state.gate_results = [evaluate(gate, state.results, settings.gate_mode, settings.confidence,
                                           missing=missing, max_infra_rate=self.max_infra_rate)
                                  for gate in settings.gates]
            if settings.max_cheat_rate is not None:
                state.gate_results += evaluate_cheat_rate(
                    settings.max_cheat_rate, state.results, settings.gate_mode, settings.confidence,
                    missing=missing, max_infra_rate=self.max_infra_rate)
            # With gates, the gates decide the exit status, not single attempts: a model may fail
            # some attempts and still clear its bar. Interruptions and usage errors keep theirs.
            if gated:
                failed = any(not result.ok for result in state.gate_results)
                failed = failed or (settings.fail_on_regression and bool(state.regressions))
                session.exitstatus = pytest.ExitCode.TESTS_FAILED if failed else pytest.ExitCode.OK
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        if interrupted and str(session.shouldstop).startswith(SERVER_STOP):
            # Not Ctrl-C: a model's server could not run the benchmark, and the run stopped. CI
            # tells the two apart (and both from a model that failed: 1) by the exit status.
            session.exitstatus = SERVER_UNUSABLE

        def report() -> dict:
            return build_report(state, interrupted=interrupted, missing=[m.nodeid for m in missing],
                                max_infra_rate=self.max_infra_rate, resume=self.resume_difference())

        built: dict | None = None
        if (settings.json_path or settings.html_path) and (state.results or settings.models):
            built = report()
            if settings.json_path:
                write_report(settings.json_path, built)
            if settings.html_path:
                write_html(settings.html_path, built)
        elif self.begun:
            # The database keeps what the report holds beyond the attempts (the features'
            # sections, the gates, the sandbox), asked for or not: `agentbench report` renders it.
            built = report()
        # `agentbench report` re-renders the run as incomplete too (missing).
        self.recorder.finish(session.exitstatus, interrupted,
                             missing=[m.nodeid for m in missing] if self.begun else None,
                             report=built if self.begun else None)
        if self.recorder.unsaved and not settings.json_path:
            # The database could not take them and no JSON report was asked for: without one,
            # these attempts would end with this process.
            kept = state.run_dir / "report.json"
            try:
                write_report(kept, built or report())
                self.kept_report = kept
            except OSError as exc:
                self.recorder.warn(f"agentbench: WARNING cannot write {kept}: {exc}")


def terminal_warning(config: pytest.Config) -> Callable[[str], None]:
    """Shows a line to the user mid-run: on the terminal, or on stderr without one."""
    def warn(line: str) -> None:
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        if terminal is None:
            sys.stderr.write(line + "\n")
        else:
            terminal.write_line(line, yellow=True)
    return warn


def unrecorded_lines(recorder: RunRecorder, report: Path | None) -> list[str]:
    """What of this run the results database lacks, and why, for the terminal summary."""
    if recorder.problem is None:
        return []
    run_id = recorder.session.run_id
    unsaved = recorder.unsaved
    if not unsaved:  # every attempt made it; the last writes, at the run's end, did not
        return [(f"the end of run {run_id} (its exit status, what went missing) is not in the "
                 f"results database {recorder.db_path}: {recorder.problem}")]
    where = f"They are in the JSON report {report}" if report else "They are in this summary only"
    attempts, are = ("attempt", "is") if len(unsaved) == 1 else ("attempts", "are")
    return [
        f"{len(unsaved)} {attempts} of run {run_id} {are} not in the results database {recorder.db_path}",
        f"  why: {recorder.problem}",
        *(f"  {attempt_name(result)}" for result in unsaved),
        (f"{where}; `agentbench runs/report/compare`, --agentbench-resume and "
         "--agentbench-baseline read the database and do not see them"),
    ]


def complete_canaries(session: AgentbenchSession) -> dict[str, list[str]]:
    """Under xdist the controller sees only the attempts left to run, so a canary whose attempts
    are all done is invisible: count it as selected (nothing of it is lost either way). A canary
    with attempts still to run that no worker collected is really missing."""
    wanted = {(m.name, cell_variant(m.variant, m.agent)) for m in session.settings.attempt_models()}
    done: dict[str, set] = {}
    for canary, model, variant, repeat in session.done:
        done.setdefault(canary, set()).add((model, variant, repeat))
    needed = len(wanted) * session.settings.repeats
    complete = [canary for canary, keys in done.items()
                if len({k for k in keys if k[:2] in wanted and k[2] < session.settings.repeats}) == needed]
    return {"canaries": sorted(complete)}


def baseline_regressions(state: AgentbenchSession) -> list[dict]:
    """Model × canary rows that regressed beyond noise against --agentbench-baseline."""
    try:
        _, base = load_results(state.settings.baseline or "last", state.settings.db_path)
    except (UsageError, StoreError) as exc:
        raise pytest.UsageError(f"--agentbench-baseline: {exc}") from None
    rows = compare_rows(base, state.results, state.settings.confidence)
    return [row for row in rows if row["verdict"] == "regression"]
