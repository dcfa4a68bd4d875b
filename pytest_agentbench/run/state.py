"""What the plugin keeps per pytest run (in ``config.stash``, never ``config._x``), and the lazy
start of the benchmark session.

Light on purpose — it imports pytest and the standard library only: pytest loads the plugin in
every test run of an environment where it is installed, and a run that collects no canary must
not pay for the benchmark machinery (httpx, pydantic, the runner, the store). The session starts
on first use (:func:`get_session`): at configure when the run asks for agentbench (an option, an
ini value, a model registry: ``options.asks_for_agentbench``), else when the first canary is
collected, or, on an xdist controller, when a worker collects an attempt (run/startup.py).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_agentbench.run.session import AgentbenchSession
    from pytest_agentbench.schemas.results import AttemptResult  # noqa: F401 (in a string below)

session_key = pytest.StashKey["AgentbenchSession"]()
# The exit status of a run stopped because a model's server could not run the benchmark (it could
# not start, or its preflight found it unusable), apart from pytest's own 0-5; and how such a stop
# is worded (session.shouldstop), so the controller can tell it from Ctrl-C.
SERVER_UNUSABLE = 6
SERVER_STOP = "agentbench: a model server cannot run the benchmark: "
result_key = pytest.StashKey["AttemptResult"]()  # a canary.toml attempt's result, on its item
run_id_key = pytest.StashKey[str]()  # xdist controller: the run id given to workers before a session
# How this process starts its session (startup.start_session, handed in by plugin.py).
starter_key = pytest.StashKey["Callable[[pytest.Config], AgentbenchSession]"]()
# The controller's run state (controller.ResultCollector) is a plugin registered under this name.
COLLECTOR_NAME = "agentbench-results"
REPORT_ATTR = "agentbench_result"  # JSON-safe dict on the TestReport: the xdist channel

# canary.TIERS, spelled here so that registering the tier markers imports no pydantic model
# (tests/test_import_graph.py checks that the two agree).
TIERS = ("lite", "medium", "heavy", "integrity")
CANARY_MARKER = "canary"  # @pytest.mark.canary(...) makes a Python canary (run/pycanary.py)
ATTEMPT_PARAM = "agentbench_attempt"  # the parameter pycanary.parametrize gives each attempt


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S") + "-" + os.urandom(3).hex()


def peek_session(config: pytest.Config) -> AgentbenchSession | None:
    """This process's session if it has started; None in a run that has not benchmarked (yet)."""
    return config.stash.get(session_key, None)


def get_session(config: pytest.Config) -> AgentbenchSession:
    """This process's session, started on first use (see the module docstring)."""
    session = peek_session(config)
    if session is None:
        # The entry point (plugin.py) hands in how a session starts: this module, which every
        # part of the plugin reads, imports none of what a session is made of.
        session = config.stash[starter_key](config)
    return session


def run_id_for_workers(config: pytest.Config) -> str:
    """The run id an xdist controller gives its workers: its session's, or — no canary seen yet —
    one reserved now, which the session takes when it starts."""
    session = peek_session(config)
    if session is not None:
        return session.run_id
    return config.stash.setdefault(run_id_key, new_run_id())


def is_python_attempt(item: pytest.Item) -> bool:
    """Whether ``item`` is an attempt of a Python canary (cheap: no import of pycanary)."""
    callspec = getattr(item, "callspec", None)
    return callspec is not None and ATTEMPT_PARAM in callspec.params


def result_of(report: pytest.TestReport) -> dict[str, Any] | None:
    """The attempt's result a call-phase report carries (a dict: it crosses xdist's channel)."""
    return getattr(report, REPORT_ATTR, None) if report.when == "call" else None
