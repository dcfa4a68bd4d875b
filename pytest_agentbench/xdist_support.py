"""pytest-xdist: what the controller tells its workers, what it learns from their collection, and
the model-scoped scheduler of ``--agentbench-group-by-model``.

Registered at configure when xdist is installed, so light at import like the entry point.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from pytest_agentbench.state import get_session, peek_session, run_id_for_workers

# The end of every attempt's node id, TOML or Python: `canary[MODEL-rN]`. Only a hint — a test
# with a parameter like that may start the session; the ledger then checks the model names.
_ATTEMPT_ID = re.compile(r"\[(?P<model>.+)-r\d+\]$")


class XdistHooks:
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        # Every worker writes its transcripts into the controller's run directory, and skips
        # what a resumed run already has.
        session = peek_session(node.config)
        node.workerinput["agentbench_run_id"] = run_id_for_workers(node.config)
        node.workerinput["agentbench_done"] = sorted(session.done) if session is not None else []

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        # The controller collects nothing itself: the workers' node ids are its only view of
        # which attempts this run must account for. A restarted worker sends the same ids again.
        if node.config.option.collectonly:
            return
        if peek_session(node.config) is None and not any(_ATTEMPT_ID.search(i) for i in ids):
            return  # no canary here: the benchmark machinery stays unloaded
        get_session(node.config)
        from pytest_agentbench.controller import ResultCollector

        collector = ResultCollector.of(node.config)
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
