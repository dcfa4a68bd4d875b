"""The pipelines' driver: a canary with ``[[phases]]`` runs them in turn on one tree (scoped
sub-agents, ``runner.PipelineRunner``), verified as one attempt."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_agentbench.drivers import AttemptSetup, Driver


class PipelineDriver:
    NAME = "agentbench-pipelines-driver"

    def pytest_agentbench_driver(self, setup: AttemptSetup) -> Driver | None:
        if not setup.canary.phases or setup.model.agent != "builtin":
            return None  # an external agent on a pipeline canary is refused by its own driver
        from pytest_agentbench.pipeline.runner import PipelineRunner

        return PipelineRunner(setup.session, setup.workspace, setup.canary, setup.model,
                              setup.budget, setup.info)
