"""The fixtures the plugin provides: ``agent`` (Python canaries, run/pycanary.py) and
``scripted_server`` (testing.py). Defined here, light, so that the entry point can offer them
without importing the agent loop or an HTTP server in every pytest run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_agentbench.run.state import get_session

if TYPE_CHECKING:
    from pytest_agentbench.run.pycanary import Agent, PyAttempt
    from pytest_agentbench.testing import ScriptedServer


@pytest.fixture
def agentbench_attempt() -> PyAttempt:
    # Replaced by the parametrization of tests marked @pytest.mark.canary.
    pytest.fail("the `agent` fixture needs @pytest.mark.canary(tier=..., repo=...) on the test",
                pytrace=False)


@pytest.fixture
def agent(request: pytest.FixtureRequest, agentbench_attempt: PyAttempt) -> Iterator[Agent]:
    """An agent working on the canary's repo in a fresh worktree (see run/pycanary.py)."""
    from pytest_agentbench.run.pycanary import Agent, agent_key

    instance = Agent(get_session(request.config), agentbench_attempt, request.node.nodeid)
    request.node.stash[agent_key] = instance
    try:
        yield instance
    finally:
        instance.close()


@pytest.fixture
def scripted_server() -> Iterator[Callable[[Any], ScriptedServer]]:
    """Factory fixture: ``server = scripted_server(script)`` starts a server, stopped at teardown."""
    from pytest_agentbench.testing import ScriptedServer

    servers: list[ScriptedServer] = []

    def start(script: Any) -> ScriptedServer:
        server = ScriptedServer(script).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
