"""The external agents' driver: an attempt whose agent is a registry entry runs that program
through the recording proxy (``attempt.AgentTries``), in the same tree, verified by the same checks."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_agentbench.attempt.drivers import AttemptSetup, Driver


class ExternalAgentDriver:
    NAME = "agentbench-external-agents"

    def pytest_agentbench_driver(self, setup: AttemptSetup) -> Driver | None:
        if setup.model.agent == "builtin":
            return None
        if setup.canary.phases:
            raise ValueError(f"agent {setup.model.agent!r}: pipeline canaries run only the builtin agent")
        from pytest_agentbench.external.attempt import AgentTries

        # Its program keeps no conversation across runs: a further try runs it again in the same
        # worktree on the task plus the feedback (AgentTries.resume).
        return AgentTries(setup.session, setup.workspace, setup.canary, setup.model, setup.budget,
                          setup.info)
