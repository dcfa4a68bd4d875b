"""pytest-xdist: what the controller tells its workers, what it learns from their collection, the
model-scoped scheduler of ``--agentbench-group-by-model``, and the transcripts of workers on other
hosts (``--tx ssh=...``), which travel home on their reports.

Registered at configure when xdist is installed, so light at import like the entry point.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import Any

import pytest

from pytest_agentbench.run.interrupts import interrupts_held
from pytest_agentbench.run.options import asks_for_agentbench, option_value
from pytest_agentbench.run.state import (
    COLLECTOR_NAME,
    get_session,
    is_worker,
    peek_session,
    result_of,
    run_id_for_workers,
)

# The end of every attempt's node id, TOML or Python: `canary[MODEL-rN]`. Only a hint — a test
# with a parameter like that may start the session; the ledger then checks the model names.
_ATTEMPT_ID = re.compile(r"\[(?P<model>.+)-r\d+\]$")

TRANSCRIPT_ATTR = "agentbench_transcript"  # a remote worker's transcript bytes, on the TestReport
# A transcript larger than this stays on the worker host (the result then names the worker's
# path): tool output is capped per call, so only a pathological attempt gets near it.
MAX_CARRIED_TRANSCRIPT = 64 * 1024 * 1024


def _bound_worker_restarts(config: pytest.Config) -> None:
    """With ``--tx`` and no ``-n``, xdist replaces a crashed worker without end (its default
    bound, 4 per worker, comes with ``-n`` only): a worker host that cannot start — no bubblewrap,
    a wrong ``python=`` — would log in again and again and the run would never end. Give a
    benchmark the bound ``-n`` has; an explicit ``--max-worker-restart`` wins."""
    option = config.option
    tx = getattr(option, "tx", None)
    if not tx or getattr(option, "numprocesses", None):
        return
    if getattr(option, "maxworkerrestart", "") is not None:
        return
    if not asks_for_agentbench(config):
        return  # other test suites keep xdist's behaviour
    workers = 0
    for spec in tx:  # xdist's own reading of `N*SPEC`
        count, star, _ = spec.partition("*")
        workers += int(count) if star and count.isdigit() else 1
    option.maxworkerrestart = str(4 * workers)


def on_another_host(spec: Any) -> bool:
    """Whether an execnet spec's worker may see another filesystem than the controller: popen
    workers (``-n``) share this machine's; ssh and socket workers, or popen behind a ``via``
    proxy gateway, may not."""
    return not spec.popen or bool(spec.via)


class XdistHooks:
    def pytest_configure(self, config: pytest.Config) -> None:
        # Called on registration (pytest_configure is historic), on the controller and on
        # workers — before the session starts, so before the settings are read, and before
        # xdist's own (trylast) configure makes its DSession, which reads --max-worker-restart.
        if not is_worker(config):
            _bound_worker_restarts(config)
            return
        if not config.workerinput.get("agentbench_remote"):  # type: ignore[attr-defined]
            return
        config.pluginmanager.register(TranscriptCarrier(), "agentbench-transcript-carrier")
        required = config.workerinput.get("agentbench_require_bubblewrap")  # type: ignore[attr-defined]
        if required and option_value(config, "sandbox") in (None, "auto"):
            # The controller's header and report say "bubblewrap": under `auto` a worker host
            # without it would fall back to no sandbox, unseen. Require it: such a worker stops
            # at start with the reason (a usage error), it never runs an attempt unjailed.
            config.option.agentbench_sandbox = "bubblewrap"

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Iterator[None]:
        # On a worker, xdist's own sessionfinish tells the controller the worker is done. After
        # a Ctrl-C that can fail — the controller or the SSH connection to it is gone, or a
        # second interrupt lands there — and pytest then skips unconfigure, where this process's
        # session removes its worktrees: the pooled trees would stay on disk. Close it here then.
        try:
            return (yield)
        except BaseException:
            state = peek_session(session.config) if is_worker(session.config) else None
            if state is not None:
                with interrupts_held():
                    state.close()
            raise

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        # Every worker writes its transcripts under the controller's run id, and skips what a
        # resumed run already has. A worker on another host writes them into its own filesystem,
        # so it also sends each one home on its report (TranscriptCarrier).
        session = peek_session(node.config)
        node.workerinput["agentbench_run_id"] = run_id_for_workers(node.config)
        node.workerinput["agentbench_done"] = sorted(session.done) if session is not None else []
        remote = on_another_host(node.gateway.spec)
        node.workerinput["agentbench_remote"] = remote
        # A worker on this machine has this machine's bubblewrap; one on another host may not.
        node.workerinput["agentbench_require_bubblewrap"] = (
            remote and session is not None and session.sandbox_tier == "bubblewrap")

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        # The controller collects nothing itself: the workers' node ids are its only view of
        # which attempts this run must account for. A restarted worker sends the same ids again.
        if node.config.option.collectonly:
            return
        if peek_session(node.config) is None and not any(_ATTEMPT_ID.search(i) for i in ids):
            return  # no canary here: the benchmark machinery stays unloaded
        get_session(node.config)
        collector = node.config.pluginmanager.get_plugin(COLLECTOR_NAME)
        if collector is not None:
            collector.expect_node_ids(ids, node.config.pluginmanager.get_plugin("terminalreporter"))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        session = peek_session(config)
        if session is None or not session.settings.group_by_model:
            return None
        return _model_scheduling(config, log)


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


class TranscriptCarrier:
    """On a worker on another host: each attempt's transcript rides on its report to the
    controller, which keeps it in its own run directory (:func:`bring_transcript_home`), so the
    results database, the reports and the transcripts they name all live on the controller."""

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Iterator[None]:
        # Around xdist's own hook, which serializes the report to the controller: attached
        # before it, dropped after it so this worker does not hold every transcript in memory.
        result = result_of(report)
        carried = _read_transcript(result.get("transcript")) if result is not None else None
        if carried is not None:
            setattr(report, TRANSCRIPT_ATTR, carried)
        try:
            return (yield)
        finally:
            report.__dict__.pop(TRANSCRIPT_ATTR, None)


def _read_transcript(path: str | None) -> bytes | None:
    if not path:
        return None
    try:
        with open(path, "rb") as handle:  # closed by the runner before the report is made
            data = handle.read(MAX_CARRIED_TRANSCRIPT + 1)
    except OSError:
        return None
    return data if len(data) <= MAX_CARRIED_TRANSCRIPT else None


def bring_transcript_home(report: pytest.TestReport, result: dict[str, Any], run_dir: Path) -> None:
    """On the controller: write a transcript a remote worker carried (TranscriptCarrier) into
    this run's transcripts and point the result — and the failure text naming it — there."""
    carried = report.__dict__.pop(TRANSCRIPT_ATTR, None)  # not kept on the report till the end
    remote_path = result.get("transcript")
    if carried is None or not remote_path:
        return
    name = PurePath(remote_path).name  # the worker's file name: the attempt's node id, slugged
    if not name.endswith(".jsonl"):
        return
    home = run_dir / "transcripts" / name
    home.parent.mkdir(parents=True, exist_ok=True)
    home.write_bytes(carried)
    result["transcript"] = str(home)
    if isinstance(report.longrepr, str):  # a canary's failure text ends with its transcript path
        report.longrepr = report.longrepr.replace(remote_path, str(home))
