"""Who drives an attempt: the one protocol every driver implements, and how one is chosen.

A driver takes the attempt's prompt and works on its worktree until it stops, returning the loop's
record (:class:`~pytest_agentbench.agent.loop.LoopResult`); with ``retries_with_feedback`` it is
asked to ``resume`` with the checks' feedback. The built-in agent loop is one driver; an external
agent behind the recording proxy (``external/``) and a multi-phase pipeline (``pipeline/``) are
others. The runner does not know them: it asks the ``pytest_agentbench_driver`` hook (first
answer wins, as ``pytest_xdist_make_scheduler`` does), each feature's plugin answers for the
attempts that are its own, and the built-in loop answers last. A ``conftest.py`` may answer first
with a driver of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import pytest

if TYPE_CHECKING:
    from pytest_agentbench.agent.loop import LoopResult
    from pytest_agentbench.attempt.identity import Attempt
    from pytest_agentbench.attempt.runner import AttemptEnvironment
    from pytest_agentbench.run.session import AgentbenchSession
    from pytest_agentbench.schemas.canary import Canary, ResolvedBudget
    from pytest_agentbench.schemas.models import ModelSpec


class Driver(Protocol):
    """``run`` the prompt, ``resume`` with feedback, each returning the loop's record. Optional:
    ``takes_feedback = False`` (no second try: nothing to resume) and ``record(result)`` (add the
    driver's own fields to the finished :class:`~pytest_agentbench.schemas.results.AttemptResult`)."""

    budget: ResolvedBudget  # the budget the driver holds the attempt to (recorded as such)

    def run(self, prompt: str) -> LoopResult: ...

    def resume(self, feedback: str) -> LoopResult: ...


@dataclass(frozen=True)
class AttemptSetup:
    """What a driver is given: the session, the attempt's environment (worktree, sandbox,
    transcript), the canary, the model, the resolved budget and the attempt's description (the
    dict the ``attempt_started`` hook receives)."""

    session: AgentbenchSession
    workspace: AttemptEnvironment
    canary: Canary
    model: ModelSpec
    budget: ResolvedBudget
    info: Attempt  # which attempt, running where (the hooks' payload)


class BuiltinDriver:
    """The plugin's own agent loop: the driver of every attempt no other driver claims."""

    NAME = "agentbench-builtin-driver"

    @pytest.hookimpl(trylast=True)  # every other driver gets the first word
    def pytest_agentbench_driver(self, setup: AttemptSetup) -> Driver | None:
        return setup.workspace.agent_loop(setup.session, setup.canary, setup.model, setup.budget,
                                          setup.info)

