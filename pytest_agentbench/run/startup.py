"""Starting this process's benchmark session (state.get_session calls it once, on first use).

Reads the settings, makes the session of a worker (the controller's run id and resumed attempts
come through ``workerinput``) or of the controller (a resumed run, a baseline resolved now), and
registers the hooks a benchmarking process needs: the features (features.py) before the settings
are read (a feature may choose the run's models and variants), run/attempt_hooks.py everywhere,
run/controller.py on the controller.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import pytest

from pytest_agentbench import features
from pytest_agentbench.attempt.drivers import BuiltinDriver
from pytest_agentbench.records.history import RunRecorder, attempt_key
from pytest_agentbench.records.store import NoRunsError, ResultStore, StoreError
from pytest_agentbench.run.attempt_hooks import AttemptHooks
from pytest_agentbench.run.controller import ResultCollector, terminal_warning
from pytest_agentbench.run.options import option_value
from pytest_agentbench.run.progress import ProgressTicker, progress_mode, start_ticker
from pytest_agentbench.run.session import AgentbenchSession
from pytest_agentbench.run.settings import max_infra_rate_from, settings_from
from pytest_agentbench.run.state import is_worker, new_run_id, run_id_key, session_key
from pytest_agentbench.servers.coreside import MemoryHooks


def start_session(config: pytest.Config) -> AgentbenchSession:
    # A run reads each canary's files afresh (several runs may share a process: pytester).
    from pytest_agentbench.attempt import canary_files

    canary_files.forget()
    features.register(config)
    settings = settings_from(config)
    max_infra_rate = max_infra_rate_from(config)
    resumed: dict[str, list[str]] | None = None
    if is_worker(config):
        workerinput = config.workerinput  # type: ignore[attr-defined]
        session = AgentbenchSession(settings, run_id=workerinput.get("agentbench_run_id") or new_run_id(),
                                    worker_id=workerinput["workerid"], is_controller=False)
        session.done = {tuple(key) for key in workerinput.get("agentbench_done", [])}
    else:
        session = AgentbenchSession(settings, run_id=config.stash.get(run_id_key, None) or new_run_id())
        if settings.resume:
            resumed = _resume(session)
        if settings.baseline and not Path(settings.baseline).is_file():
            # Resolve now: once this run is recorded (after collection), "last" would mean itself.
            # A run with no attempt (interrupted at once) is no baseline: it would hide regressions.
            try:
                with ResultStore(settings.db_path) as store:
                    settings.baseline = store.resolve(settings.baseline, with_attempts=True)
            except NoRunsError as exc:
                if settings.baseline != "last":
                    raise pytest.UsageError(f"--agentbench-baseline: {exc}") from None
                # A CI job's first run has nothing before it: one command line must serve every run,
                # so this is no usage error; a named run that is missing still is (a typo).
                settings.baseline = None
                session.baseline_skipped = ("--agentbench-baseline last: no earlier run to compare with: "
                                            "the baseline comparison is skipped this time")
            except StoreError as exc:
                raise pytest.UsageError(f"--agentbench-baseline: {exc}") from None
    session.hook = config.hook  # how the runner and the reports call the pytest_agentbench_* hooks
    session.notice = shown_at_once(config)
    config.stash[session_key] = session
    # Managed servers' memory in the reports; --agentbench-coreside's preflight (servers/coreside.py).
    config.pluginmanager.register(MemoryHooks(session, config.rootpath, option_value(config, "coreside"),
                                              option_value(config, "memory_budget")), MemoryHooks.NAME)
    config.pluginmanager.register(AttemptHooks(), "agentbench-attempts")
    # Who drives an attempt: the features' drivers first, the built-in loop last (attempt/drivers.py).
    config.pluginmanager.register(BuiltinDriver(), BuiltinDriver.NAME)
    config.hook.pytest_agentbench_session_started(session=session)
    if not is_worker(config):
        collector = ResultCollector(session, RunRecorder(session, settings.db_path, terminal_warning(config)),
                                    max_infra_rate, resumed)
        config.pluginmanager.register(collector, ResultCollector.NAME)
        mode, every = progress_mode(option_value(config, "progress"))
        start_ticker(config, session, mode, every,
                     lambda: (len(collector.ledger.received), len(collector.ledger.expected)))
    return session


def shown_at_once(config: pytest.Config) -> Callable[[str], None]:
    """Shows the user a line now, also from inside a test (a managed server starts in its model's
    first attempt): pytest's capture of the test's output is suspended while it is written. An
    xdist worker writes to its stderr, which reaches the terminal the run was started from."""
    def show(line: str) -> None:
        capture = config.pluginmanager.get_plugin("capturemanager")
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        ticker = config.pluginmanager.get_plugin(ProgressTicker.NAME)  # its status line gives way
        with (capture.global_and_fixture_disabled() if capture is not None else nullcontext(),
              ticker.paused() if ticker is not None else nullcontext()):
            if terminal is not None and not is_worker(config):
                terminal.write_line(line)
            else:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
    return show


def _resume(session: AgentbenchSession) -> dict[str, list[str]]:
    """Continue an earlier run: its id, its finished attempts (infra errors and attempts that
    never produced a result are run again). Returns what that run set out to run (its plan)."""
    try:
        with ResultStore(session.settings.db_path) as store:
            session.run_id = store.resolve(session.settings.resume or "last")
            session.done = store.done_keys(session.run_id)
            session.results = [r for r in store.attempts(session.run_id)
                               if attempt_key(r.canary, r.model, r.variant, r.repeat, r.agent) in session.done]
            return store.plan(session.run_id)
    except StoreError as exc:
        raise pytest.UsageError(f"--agentbench-resume: {exc}") from None
