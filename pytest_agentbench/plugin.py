"""The pytest plugin: options, configuration, collection hooks and reporting hooks.

Kept thin: the work happens in collect.py (items), runner.py (one attempt) and report/.
The plugin is inert unless canaries are collected, so it costs nothing in other test runs.
"""

from __future__ import annotations

import re
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from pytest_agentbench.canary import TIERS, Canary
from pytest_agentbench.collect import (
    CANARY_FILENAME,
    CanaryFile,
    CanaryItem,
    is_canary_support_dir,
    junit_properties,
    result_key,
)
from pytest_agentbench.gates import evaluate
from pytest_agentbench.history import RunRecorder, attempt_key
from pytest_agentbench.ledger import (
    ExpectedAttempt,
    Ledger,
    describe_difference,
    merge_plans,
    model_label,
    parse_attempt_nodeid,
    plan_difference,
)
from pytest_agentbench.options import (  # noqa: F401 (pytest_addoption is a hook)
    max_infra_rate_from,
    pytest_addoption,
    settings_from,
)
from pytest_agentbench.outcome import Outcome
from pytest_agentbench.pycanary import (  # noqa: F401 (fixtures)
    agent,
    agentbench_attempt,
    attempt_of,
    finish_report,
    parametrize,
)
from pytest_agentbench.report.html_report import write_html
from pytest_agentbench.report.json_report import build_report, write_report
from pytest_agentbench.report.terminal import summary_lines
from pytest_agentbench.results import AttemptResult
from pytest_agentbench.session import AgentbenchSession, new_run_id
from pytest_agentbench.store import ResultStore, StoreError
from pytest_agentbench.testing import scripted_server  # noqa: F401  (fixture for users)

session_key = pytest.StashKey[AgentbenchSession]()
REPORT_ATTR = "agentbench_result"  # JSON-safe dict on the TestReport: the xdist channel
def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def get_session(config: pytest.Config) -> AgentbenchSession:
    return config.stash[session_key]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for tier in TIERS:
        config.addinivalue_line("markers", f"{tier}: agentbench canaries of the {tier} tier")
    config.addinivalue_line("markers", "agentbench: an agentbench canary attempt")
    config.addinivalue_line("markers", "canary(tier, repo, id=None, tags=(), budget=None, tools=None): "
                                       "a Python canary using the `agent` fixture")
    settings = settings_from(config)
    max_infra_rate = max_infra_rate_from(config)
    resumed: dict[str, list[str]] | None = None
    if _is_worker(config):
        workerinput = config.workerinput  # type: ignore[attr-defined]
        session = AgentbenchSession(settings, run_id=workerinput.get("agentbench_run_id") or new_run_id(),
                                    worker_id=workerinput["workerid"], is_controller=False)
        session.done = {tuple(key) for key in workerinput.get("agentbench_done", [])}
    else:
        session = AgentbenchSession(settings, run_id=new_run_id())
        if settings.resume:
            resumed = _resume(session)
        if settings.baseline and not Path(settings.baseline).is_file():
            # Resolve now: once this run is recorded (after collection), "last" would mean itself.
            # A run with no attempt (interrupted at once) is no baseline: it would hide regressions.
            try:
                with ResultStore(settings.db_path) as store:
                    settings.baseline = store.resolve(settings.baseline, with_attempts=True)
            except StoreError as exc:
                raise pytest.UsageError(f"--agentbench-baseline: {exc}") from None
    config.stash[session_key] = session
    if not _is_worker(config):
        recorder = RunRecorder(session, settings.db_path)
        collector = _ResultCollector(session, recorder, max_infra_rate, resumed)
        config.pluginmanager.register(collector, "agentbench-results")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "agentbench-xdist")


def _resume(session: AgentbenchSession) -> dict[str, list[str]]:
    """Continue an earlier run: its id, its finished attempts (infra errors and attempts that
    never produced a result are run again). Returns what that run set out to run (its plan)."""
    try:
        with ResultStore(session.settings.db_path) as store:
            session.run_id = store.resolve(session.settings.resume or "last")
            session.done = store.done_keys(session.run_id)
            session.results = [r for r in store.attempts(session.run_id)
                               if attempt_key(r.canary, r.model, r.variant, r.repeat) in session.done]
            return store.plan(session.run_id)
    except StoreError as exc:
        raise pytest.UsageError(f"--agentbench-resume: {exc}") from None


def _collector(config: pytest.Config) -> _ResultCollector | None:
    """The controller's run state; None on xdist workers."""
    return config.pluginmanager.get_plugin("agentbench-results")


def _complete_canaries(session: AgentbenchSession) -> dict[str, list[str]]:
    """Under xdist the controller sees only the attempts left to run, so a canary whose attempts
    are all done is invisible: count it as selected (nothing of it is lost either way). A canary
    with attempts still to run that no worker collected is really missing."""
    wanted = {(m.name, m.variant) for m in session.settings.attempt_models()}
    done: dict[str, set] = {}
    for canary, model, variant, repeat in session.done:
        done.setdefault(canary, set()).add((model, variant, repeat))
    needed = len(wanted) * session.settings.repeats
    complete = [canary for canary, keys in done.items()
                if len({k for k in keys if k[:2] in wanted and k[2] < session.settings.repeats}) == needed]
    return {"canaries": sorted(complete)}


class _XdistHooks:
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        # Every worker writes its transcripts into the controller's run directory, and skips
        # what a resumed run already has.
        session = get_session(node.config)
        node.workerinput["agentbench_run_id"] = session.run_id
        node.workerinput["agentbench_done"] = sorted(session.done)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        # The controller collects nothing itself: the workers' node ids are its only view of
        # which attempts this run must account for. A restarted worker sends the same ids again.
        collector = _collector(node.config)
        if collector is None or node.config.option.collectonly:
            return
        session = collector.session
        models = session.settings.attempt_models()
        for nodeid in ids:
            attempt = parse_attempt_nodeid(nodeid, models)
            if attempt is not None:
                collector.ledger.expect(attempt)
        if collector.ledger.expected:
            # The workers have their copy of the environment now; the controller's keys go to
            # memory too (README "Sandbox": what the none tier cannot hide).
            session.guard_secrets()
        if collector.ledger.expected and not collector.begun:
            collector.begin(merge_plans(collector.ledger.plan(), _complete_canaries(session)))
            terminal = node.config.pluginmanager.get_plugin("terminalreporter")
            for line in collector.canary_warnings():
                if terminal is not None:
                    terminal.write_line(line, yellow=True)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if not get_session(config).settings.group_by_model:
            return None
        return _model_scheduling(config, log)


_ATTEMPT_ID = re.compile(r"\[(?P<model>.+)-r\d+\]$")


def _model_scheduling(config: pytest.Config, log: Any) -> Any:
    """xdist's loadscope, scoped by model: each model's attempts stay on one worker (a local
    server swaps models slowly). Not xdist_group: pytest-xdist 3.8 loses those groups on pytest
    9.2 (pytest-dev/pytest-xdist#1386)."""
    from xdist.scheduler import LoadScopeScheduling

    class ModelScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            found = _ATTEMPT_ID.search(nodeid)
            if not found:
                return super()._split_scope(nodeid)
            # A sweep's variants of one model share its server: `qwen-temperature=0.7` → `qwen`
            # (model names have no "=", variant names always do).
            return "model:" + re.split(r"-(?=[a-z_]+=)", found["model"], maxsplit=1)[0]

    return ModelScheduling(config, log)


def pytest_unconfigure(config: pytest.Config) -> None:
    if session_key in config.stash:
        config.stash[session_key].close()


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    session = get_session(config)
    collector = _collector(config)
    resume_lines = collector.model_warnings() if collector is not None else []
    if not session.settings.models_explicit:
        return resume_lines or None  # the plugin stays quiet in test runs that don't benchmark
    lines = [f"agentbench: run {session.run_id} · repeats {session.settings.repeats}", *resume_lines]
    if session.settings.variants[0].name != "base":
        lines.append("agentbench: sweep: " + " · ".join(v.name for v in session.settings.variants))
    lines.extend(session.sandbox_banner())
    for model in session.settings.models:
        if model.server is not None:
            lines.append(f"agentbench: {model.name}: managed server, started on first use")
            continue
        info = session.preflight(model)
        found = ", ".join(part for part in (
            info.kind + (f" {info.version}" if info.version else ""),
            f"context {info.context_window}" if info.context_window else "context unknown",
            {True: "tools ok", False: "NO TOOLS", None: "tools unknown"}[info.tool_support],
            info.chat_template,
        ) if part)
        lines.append(f"agentbench: {model.name} @ {model.base_url}: {found}")
        lines.extend(f"agentbench:   PROBLEM: {text}" for text in info.problems)
        lines.extend(f"agentbench:   warning: {text}" for text in info.warnings)
    return lines


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    return True if is_canary_support_dir(collection_path) else None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name == CANARY_FILENAME:
        return CanaryFile.from_parent(parent, path=file_path)
    return None


def _terminate_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"agentbench: signal {signum}")


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session):
    """SIGTERM (a CI cancel, `kill`, a container stop) ends a benchmark like Ctrl-C does: the
    running attempt's sandbox and worktree go, every finished attempt stays in the database
    and the JSON report (``interrupted: true``), and pytest exits 2. Other test runs keep the
    default SIGTERM behaviour."""
    benchmarking = any(_attempt_key(item) is not None for item in session.items)
    controller = session.config.pluginmanager.hasplugin("dsession")  # xdist's controller
    if not (benchmarking or controller) or threading.current_thread() is not threading.main_thread():
        return (yield)
    previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    try:
        return (yield)
    finally:
        signal.signal(signal.SIGTERM, previous)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize(metafunc, get_session(metafunc.config))


def _attempt_key(item: pytest.Item) -> tuple[str, tuple] | None:
    """(tier, resume key) of a canary attempt item, TOML or Python; None for other tests."""
    if isinstance(item, CanaryItem):
        canary, model, repeat = item.canary, item.model, item.repeat
    elif (attempt := attempt_of(item)) is not None:
        canary, model, repeat = attempt.canary, attempt.model, attempt.repeat
    else:
        return None
    return canary.tier, attempt_key(canary.id, model.name, model.variant, repeat)


def _expected(item: pytest.Item) -> ExpectedAttempt | None:
    """The ledger's entry for a canary attempt item, TOML or Python; None for other tests."""
    if isinstance(item, CanaryItem):
        canary, model = item.canary, item.model
    elif (attempt := attempt_of(item)) is not None:
        canary, model = attempt.canary, attempt.model
    else:
        return None
    return ExpectedAttempt(item.nodeid, canary.id, model.name, model.variant, canary.tier)


def pytest_itemcollected(item: pytest.Item) -> None:
    attempt = attempt_of(item)
    if attempt is not None:  # what CanaryItem does for TOML canaries; before -k deselects
        item.extra_keyword_matches.update([*attempt.canary.tags, attempt.model.name])


def _check_unique_ids(items: list[pytest.Item]) -> None:
    """Two canaries with one id would overwrite each other's rows (TOML ones are caught at
    collection; this catches Python canaries, whose ids come from markers)."""
    seen: dict[str, Canary] = {}
    for item in items:
        if isinstance(item, CanaryItem):
            canary = item.canary
        elif (attempt := attempt_of(item)) is not None:
            canary = attempt.canary
        else:
            continue
        # One canary file or function is parsed once: its attempts share one Canary object.
        first = seen.setdefault(canary.id, canary)
        if first is not canary:
            raise pytest.UsageError(f"duplicate canary id {canary.id!r}: {first.path} and {canary.path} - "
                                    "ids must be unique")


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: the selection is what a resume compares
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    session = get_session(config)
    _check_unique_ids(items)
    tiers, done = session.settings.tiers, session.done
    collector = _collector(config)
    if collector is not None and collector.resumed is not None:
        # What this session would run were nothing done yet; compared with the resumed run's plan.
        collector.selection = {"canaries": sorted({e.canary for i in items if (e := _expected(i))
                                                   and (not tiers or e.tier in tiers)})}
    if not tiers and not done:
        return

    def wanted(item: pytest.Item) -> bool:
        found = _attempt_key(item)
        if found is None:
            return True
        tier, key = found
        return (not tiers or tier in tiers) and key not in done

    keep, drop = [], []
    for item in items:
        (keep if wanted(item) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collection_finish(session: pytest.Session) -> None:
    collector = _collector(session.config)
    if collector is None or session.config.option.collectonly:
        return
    for item in session.items:
        expected = _expected(item)
        if expected is not None:
            collector.ledger.expect(expected)
    if collector.ledger.expected:
        plan = collector.ledger.plan()
        if collector.selection is not None:
            plan = merge_plans(plan, collector.selection)
        collector.begin(plan)


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    collector = _collector(config)
    return collector.canary_warnings() if collector is not None else []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    python_canary = finish_report(item, call, report)
    if python_canary is not None:
        item.stash[result_key] = python_canary
        report.user_properties.extend(junit_properties(python_canary))
    result = item.stash.get(result_key, None)
    if result is not None and report.when == "call":
        setattr(report, REPORT_ATTR, result.model_dump(mode="json"))
    return report


def _result_of(report: pytest.TestReport) -> dict | None:
    return getattr(report, REPORT_ATTR, None) if report.when == "call" else None


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    result = _result_of(report)
    if result is None:
        return None
    outcome = Outcome(result["outcome"])
    word = outcome.value.upper()
    if outcome is Outcome.PASSED:
        return "passed", ".", ("PASSED", {"green": True})
    if outcome.is_budget:
        return "budget", "B", (word, {"yellow": True})
    if outcome is Outcome.INFRA_ERROR:
        return "error", "E", (word, {"red": True})
    return "failed", "F", (word, {"red": True})


class _ResultCollector:
    """The controller's run state: gathers results (with xdist, reports arrive from the workers),
    keeps the ledger of collected attempts, and what differs from a resumed run."""

    def __init__(self, session: AgentbenchSession, recorder: RunRecorder, max_infra_rate: float,
                 resumed: dict[str, list[str]] | None) -> None:
        self.session = session
        self.recorder = recorder
        self.max_infra_rate = max_infra_rate
        self.resumed = resumed  # the plan of the run --agentbench-resume continues
        self.selection: dict[str, list[str]] | None = None  # this session's canaries, done or not
        self.ledger = Ledger()
        self.begun = False

    def begin(self, plan: dict[str, list[str]]) -> None:
        """Record the run now, before any attempt finishes: an interrupt in the first attempt
        must leave this run (not the previous one) as `last` for --agentbench-resume."""
        self.begun = True
        self.selection = plan
        try:
            self.recorder.store.update_settings(self.session.run_id,
                                                plan=merge_plans(self.resumed or {}, plan))
        except StoreError as exc:
            raise pytest.UsageError(f"--agentbench-db: {exc}") from None

    def model_warnings(self) -> list[str]:
        if self.resumed is None:
            return []
        now = {"models": [model_label(m.name, m.variant) for m in self.session.settings.attempt_models()]}
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
        now = {"models": [model_label(m.name, m.variant) for m in self.session.settings.attempt_models()],
               "canaries": selection.get("canaries", [])}
        return {"run_id": self.session.run_id,
                "models": plan_difference(self.resumed, now, "models"),
                "canaries": plan_difference(self.resumed, now, "canaries")}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        result = _result_of(report)
        self.ledger.saw_report(report.nodeid, result is not None, report.keywords)
        if result is not None:
            attempt = AttemptResult.model_validate(result)
            self.session.results.append(attempt)
            self.recorder.record(attempt)  # committed now: a Ctrl-C or a crash keeps it
            if attempt.server:  # workers preflight their endpoints; the report needs one copy
                self.session.server_info.setdefault(attempt.model, attempt.server)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _is_worker(config):
        return
    session = get_session(config)
    budget_reports = terminalreporter.stats.get("budget", [])
    if budget_reports:
        # Budget outcomes have their own category, so pytest's FAILURES section skips them.
        terminalreporter.write_sep("=", "BUDGET CEILINGS")
        for report in budget_reports:
            terminalreporter.write_sep("_", report.head_line or report.nodeid, yellow=True)
            for line in report.longreprtext.splitlines():
                terminalreporter.write_line(line)
    _write_incomplete(terminalreporter, config)
    if not session.results:
        _write_gates(terminalreporter, session)
        return
    terminalreporter.write_sep("=", f"agentbench summary · run {session.run_id}")
    settings = session.settings
    if not settings.models_explicit:
        # The header stayed quiet (no --models: it could not know canaries would run), so the
        # sandbox tier and its warnings are said here instead: never a silent downgrade.
        for line in session.sandbox_banner():
            terminalreporter.write_line(line, yellow="WARNING" in line)
    for line in summary_lines(session.results, settings.repeats, settings.ks, settings.confidence):
        terminalreporter.write_line(line)
    for name, info in sorted(session.server_info.items()):
        for text in info.get("warnings", []):
            terminalreporter.write_line(f"WARNING {name}: {text}", yellow=True)
    terminalreporter.write_line(f"transcripts: {session.run_dir / 'transcripts'}")
    if session.settings.json_path:
        terminalreporter.write_line(f"JSON report: {session.settings.json_path}")
    if session.settings.html_path:
        terminalreporter.write_line(f"HTML report: {session.settings.html_path}")
    _write_gates(terminalreporter, session)


def _write_incomplete(terminalreporter: Any, config: pytest.Config) -> None:
    collector = _collector(config)
    missing = collector.ledger.missing() if collector is not None else []
    if not missing:
        return
    never = set(collector.ledger.never_ran())
    terminalreporter.write_sep("=", f"agentbench: INCOMPLETE run, {len(missing)} attempt(s) without a result")
    for attempt in missing:
        why = "never ran" if attempt.nodeid in never else "ended without a result"
        terminalreporter.write_line(f"MISSING {attempt.nodeid}: {why}", red=True)
    terminalreporter.write_line("--agentbench-resume last runs them (and any infra_error attempts) again")


def _write_gates(terminalreporter: Any, session: AgentbenchSession) -> None:
    if session.settings.baseline:
        terminalreporter.write_sep("=", f"agentbench vs baseline {session.settings.baseline}")
        for row in session.regressions:
            terminalreporter.write_line(
                f"REGRESSION {row['model']} {row['canary']}: {row['base_c']}/{row['base_n']} -> "
                f"{row['new_c']}/{row['new_n']} (beyond noise at {session.settings.confidence:.0%})", red=True)
        if not session.regressions:
            terminalreporter.write_line("no regression beyond noise", green=True)
    if not session.gate_results:
        return
    terminalreporter.write_sep("=", f"agentbench gates ({session.settings.gate_mode})")
    for result in session.gate_results:
        terminalreporter.write_line(result.message, green=result.ok, red=not result.ok)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _is_worker(config) or session_key not in config.stash:
        return
    state = get_session(config)
    settings = state.settings
    gated = session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED,
                                   pytest.ExitCode.NO_TESTS_COLLECTED)
    if settings.baseline:
        state.regressions = _compare_with_baseline(state)
        if settings.fail_on_regression and gated and state.regressions:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    collector = _collector(config)
    missing = collector.ledger.missing() if collector is not None else []
    max_infra_rate = collector.max_infra_rate if collector is not None else 0.0
    if settings.gates:
        state.gate_results = [evaluate(gate, state.results, settings.gate_mode, settings.confidence,
                                       missing=missing, max_infra_rate=max_infra_rate)
                              for gate in settings.gates]
        # With gates, the gates decide the exit status, not single attempts: a model may fail
        # some attempts and still clear its bar. Interruptions and usage errors keep theirs.
        if gated:
            failed = any(not result.ok for result in state.gate_results)
            failed = failed or (settings.fail_on_regression and bool(state.regressions))
            session.exitstatus = pytest.ExitCode.TESTS_FAILED if failed else pytest.ExitCode.OK
    if (state.settings.json_path or state.settings.html_path) and (state.results or state.settings.models):
        report = build_report(state, interrupted=exitstatus == pytest.ExitCode.INTERRUPTED,
                              missing=[m.nodeid for m in missing], max_infra_rate=max_infra_rate,
                              resume=collector.resume_difference() if collector is not None else None)
        if state.settings.json_path:
            write_report(state.settings.json_path, report)
        if state.settings.html_path:
            write_html(state.settings.html_path, report)
    if collector is not None:
        if collector.begun:  # `agentbench report` re-renders the run as incomplete too
            collector.recorder.store.update_settings(state.run_id, missing=[m.nodeid for m in missing])
        collector.recorder.finish(session.exitstatus, exitstatus == pytest.ExitCode.INTERRUPTED)


def _compare_with_baseline(state: AgentbenchSession) -> list[dict]:
    """Model × canary rows that regressed beyond noise against --agentbench-baseline."""
    from pytest_agentbench.cli import UsageError as CliUsageError
    from pytest_agentbench.cli import compare_rows, load_results

    try:
        _, base = load_results(state.settings.baseline or "last", state.settings.db_path)
    except (CliUsageError, StoreError) as exc:
        raise pytest.UsageError(f"--agentbench-baseline: {exc}") from None
    rows = compare_rows(base, state.results, state.settings.confidence)
    return [row for row in rows if row["verdict"] == "regression"]
