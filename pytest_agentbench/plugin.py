"""The pytest plugin's entry point (``pytest11``): options, configuration and wiring.

pytest loads this module in every test run of an environment where the plugin is installed, so
it imports only what option registration and configure need; the benchmark machinery loads when
the session starts (run/state.py: at configure when the run asks for agentbench, else on the first
canary collected). Where the rest lives:

- run/options.py (the options and ini twins) → run/settings.py (their values as ``Settings``);
- run/startup.py starts the session and registers the hooks of a benchmarking process:
  run/attempt_hooks.py (header, selection, reports carrying results; every process) and
  run/controller.py (results arriving, the ledger, gates, baseline, reports; the controller only);
- run/collect.py (``canary.toml`` → items), run/pycanary.py + fixtures.py (Python canaries, ``agent``);
- run/xdist_support.py (workers, model-scoped scheduling), run/interrupts.py (SIGTERM);
- hookspecs.py: the ``pytest_agentbench_*`` hooks for conftest.py files and plugins.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_agentbench import hookspecs
from pytest_agentbench.fixtures import agent, agentbench_attempt, scripted_server  # noqa: F401
from pytest_agentbench.run.collect import CANARY_FILENAME, CanaryFile, is_canary_support_dir
from pytest_agentbench.run.interrupts import sigterm_as_interrupt
from pytest_agentbench.run.options import (
    asks_for_agentbench,
    pytest_addoption,  # noqa: F401 (a hook)
)
from pytest_agentbench.run.state import (
    CANARY_MARKER,
    TIERS,
    get_session,
    is_python_attempt,
    peek_session,
    starter_key,
)

if TYPE_CHECKING:
    from pytest_agentbench.run.session import AgentbenchSession


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def _start_session(config: pytest.Config) -> AgentbenchSession:
    from pytest_agentbench.run.startup import (
        start_session,  # the heavy part: only when benchmarking
    )

    return start_session(config)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.stash[starter_key] = _start_session
    for tier in TIERS:
        config.addinivalue_line("markers", f"{tier}: agentbench canaries of the {tier} tier")
    config.addinivalue_line("markers", "agentbench: an agentbench canary attempt")
    config.addinivalue_line("markers", f"{CANARY_MARKER}(tier, repo, id=None, tags=(), budget=None, "
                                       "tools=None): a Python canary using the `agent` fixture")
    if config.pluginmanager.hasplugin("xdist"):
        from pytest_agentbench.run.xdist_support import XdistHooks

        config.pluginmanager.register(XdistHooks(), "agentbench-xdist")
    if asks_for_agentbench(config):
        # Start now: bad values are usage errors before collection, the header says what runs.
        get_session(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = peek_session(config)
    if session is not None:
        session.close()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    return True if is_canary_support_dir(collection_path) else None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name == CANARY_FILENAME:
        return CanaryFile.from_parent(parent, path=file_path)
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker(CANARY_MARKER) is None or "agent" not in metafunc.fixturenames:
        return
    from pytest_agentbench.run.pycanary import parametrize

    parametrize(metafunc, get_session(metafunc.config))


def pytest_itemcollected(item: pytest.Item) -> None:
    if not is_python_attempt(item):
        return
    from pytest_agentbench.run.pycanary import attempt_of

    attempt = attempt_of(item)
    if attempt is not None:  # what CanaryItem does for TOML canaries; before -k deselects
        item.extra_keyword_matches.update([*attempt.canary.tags, attempt.model.name])


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session):
    with sigterm_as_interrupt(session):
        return (yield)
