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

from pytest_agentbench.canary import TIERS
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
from pytest_agentbench.options import pytest_addoption, settings_from  # noqa: F401 (hook)
from pytest_agentbench.outcome import Outcome
from pytest_agentbench.pycanary import agent, agentbench_attempt  # noqa: F401 (fixtures)
from pytest_agentbench.pycanary import attempt_of, finish_report, parametrize
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
    if _is_worker(config):
        workerinput = config.workerinput  # type: ignore[attr-defined]
        session = AgentbenchSession(settings, run_id=workerinput.get("agentbench_run_id") or new_run_id(),
                                    worker_id=workerinput["workerid"], is_controller=False)
        session.done = {tuple(key) for key in workerinput.get("agentbench_done", [])}
    else:
        session = AgentbenchSession(settings, run_id=new_run_id())
        if settings.resume:
            _resume(session)
        if settings.baseline and not Path(settings.baseline).is_file():
            # Resolve now: once this run records its first attempt, "last" would mean itself.
            try:
                with ResultStore(settings.db_path) as store:
                    settings.baseline = store.resolve(settings.baseline)
            except StoreError as exc:
                raise pytest.UsageError(f"--agentbench-baseline: {exc}") from None
    config.stash[session_key] = session
    if not _is_worker(config):
        recorder = RunRecorder(session, settings.db_path)
        config.pluginmanager.register(_ResultCollector(session, recorder), "agentbench-results")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "agentbench-xdist")


def _resume(session: AgentbenchSession) -> None:
    """Continue an earlier run: its id, its finished attempts (infra errors are run again)."""
    try:
        with ResultStore(session.settings.db_path) as store:
            session.run_id = store.resolve(session.settings.resume or "last")
            session.done = store.done_keys(session.run_id)
            session.results = [r for r in store.attempts(session.run_id)
                               if attempt_key(r.canary, r.model, r.variant, r.repeat) in session.done]
    except StoreError as exc:
        raise pytest.UsageError(f"--agentbench-resume: {exc}") from None


class _XdistHooks:
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        # Every worker writes its transcripts into the controller's run directory, and skips
        # what a resumed run already has.
        session = get_session(node.config)
        node.workerinput["agentbench_run_id"] = session.run_id
        node.workerinput["agentbench_done"] = sorted(session.done)

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
    if not session.settings.models_explicit:
        return None  # the plugin stays quiet in test runs that don't benchmark
    lines = [f"agentbench: run {session.run_id} · repeats {session.settings.repeats}"]
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    session = get_session(config)
    for item in items:
        attempt = attempt_of(item)
        if attempt is not None:  # what CanaryItem does for TOML canaries
            item.extra_keyword_matches.update([*attempt.canary.tags, attempt.model.name])
    tiers, done = session.settings.tiers, session.done
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
    """Gathers results on the controller only: with xdist, reports arrive from the workers."""

    def __init__(self, session: AgentbenchSession, recorder: RunRecorder) -> None:
        self.session = session
        self.recorder = recorder

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        result = _result_of(report)
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
    if settings.gates:
        state.gate_results = [evaluate(gate, state.results, settings.gate_mode, settings.confidence)
                              for gate in settings.gates]
        # With gates, the gates decide the exit status, not single attempts: a model may fail
        # some attempts and still clear its bar. Interruptions and usage errors keep theirs.
        if gated:
            failed = any(not result.ok for result in state.gate_results)
            failed = failed or (settings.fail_on_regression and bool(state.regressions))
            session.exitstatus = pytest.ExitCode.TESTS_FAILED if failed else pytest.ExitCode.OK
    if (state.settings.json_path or state.settings.html_path) and (state.results or state.settings.models):
        report = build_report(state, interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)
        if state.settings.json_path:
            write_report(state.settings.json_path, report)
        if state.settings.html_path:
            write_html(state.settings.html_path, report)
    recorder = config.pluginmanager.get_plugin("agentbench-results")
    if recorder is not None:
        recorder.recorder.finish(session.exitstatus, exitstatus == pytest.ExitCode.INTERRUPTED)


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
