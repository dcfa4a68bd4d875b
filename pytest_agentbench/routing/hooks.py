"""The routing package's plugin (registered by startup.py): with ``--agentbench-role`` it runs
only each role's canaries over that role's models, and adds the roles' metrics and promotion
decisions to the terminal summary and the JSON report (``promotion``, as ``agentbench promote
--json`` writes it) through the plugin's own hooks."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from pytest_agentbench.attempt_hooks import attempt_parts
from pytest_agentbench.routing.metrics import role_attempts, role_metrics
from pytest_agentbench.routing.policy import Decision, decide
from pytest_agentbench.routing.render import decision_lines
from pytest_agentbench.session import AgentbenchSession


class RoutingHooks:
    NAME = "agentbench-routing"

    def __init__(self, session: AgentbenchSession) -> None:
        self.session = session

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        roles = self.session.settings.roles
        if not roles:
            return
        keep, drop = [], []
        for item in items:
            parts = attempt_parts(item)
            wanted = parts is None or any(
                parts[1].name in role.models and role.serves(parts[0].id, parts[0].tier, parts[0].tags)
                for role in roles)
            (keep if wanted else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    def decisions(self) -> list[Decision]:
        """One per role the run measured (a role with no attempt here has nothing to decide)."""
        settings = self.session.settings
        models = {m.name: {"family": m.family, "cost_tier": m.cost_tier} for m in settings.models}
        results = self.session.results
        return [decide(role, role_metrics(role, results, models, settings.confidence))
                for role in settings.roles if role_attempts(role, results)]

    def pytest_agentbench_summary(self, aggregates: list[dict[str, Any]], terminalreporter: Any) -> None:
        if not self.session.settings.roles:
            return
        terminalreporter.write_sep("=", "agentbench roles and promotion")
        decisions = self.decisions()
        for decision in decisions:
            for line in decision_lines(decision):
                terminalreporter.write_line(line)
        if decisions and self.session.results:
            # A role run writes its dated report itself, as `agentbench promote` would: a decision
            # read only from the terminal is a decision lost.
            from pytest_agentbench.routing.command import write_report

            directory = terminalreporter.config.rootpath / "reports"
            date = datetime.now(timezone.utc).date().isoformat()
            path = write_report(decisions, self.session.run_id, date, directory)
            terminalreporter.write_line(f"promotion report: {path}")

    def pytest_agentbench_report(self, report: dict[str, Any]) -> None:
        if self.session.settings.roles:
            report["promotion"] = [decision.to_json() for decision in self.decisions()]
