"""The pipelines' driver: a canary with ``[[phases]]`` runs them in turn on one tree (scoped
sub-agents, ``runner.PipelineRunner``), verified as one attempt; a Python canary's
``agent.phase()`` runs one phase the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_agentbench.attempt.drivers import AttemptSetup, Driver


class PipelineDriver:
    NAME = "agentbench-pipelines-driver"

    def pytest_agentbench_driver(self, setup: AttemptSetup) -> Driver | None:
        if not setup.canary.phases or setup.model.agent != "builtin":
            return None  # an external agent on a pipeline canary is refused by its own driver
        from pytest_agentbench.pipeline.runner import PipelineRunner

        return PipelineRunner(setup.session, setup.workspace, setup.canary, setup.model,
                              setup.budget, setup.info)

    def pytest_agentbench_python_phase(self, agent: Any, name: str, prompt: str,
                                       fields: dict[str, Any]) -> Any:
        from pytest_agentbench.pipeline.python_phases import PythonPipeline, build_phase
        from pytest_agentbench.pipeline.runner import PipelineRunner

        canary = agent.attempt.canary
        phase = build_phase(agent.nodeid, name, prompt, fields,
                            list(agent.pipeline.texts) if agent.pipeline else [], canary.directory,
                            has_gate_checks_default=bool(canary.verify.run))
        if agent.pipeline is None:  # the attempt starts with its first valid phase
            agent.pipeline = PythonPipeline(PipelineRunner(
                agent.session, agent.workspace, canary, agent.attempt.model, agent.budget, agent.started_info()))
        return agent.pipeline.run(phase)
