"""The routing package's plugin (registered by features.py): with ``--agentbench-role`` it runs
only each role's canaries over that role's models (its escalation models too), records each
attempt's review pain and severity-weighted score, and adds the roles' metrics, promotion
decisions and escalation (routing/escalation.py) to the terminal summary and the JSON report
(``promotion``, as ``agentbench promote --json`` writes it) — all through the plugin's own hooks."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest

from pytest_agentbench.routing.escalation import escalation_summary
from pytest_agentbench.routing.metrics import role_attempts, role_metrics
from pytest_agentbench.routing.policy import Decision, decide
from pytest_agentbench.routing.render import decision_lines
from pytest_agentbench.routing.review import record_review
from pytest_agentbench.routing.roles import (
    RoleError,
    RoleSpec,
    chosen_roles,
    load_roles,
    role_model_names,
)
from pytest_agentbench.run.attempt_hooks import attempt_parts
from pytest_agentbench.run.session import AgentbenchSession
from pytest_agentbench.run.variants import ModelChoice
from pytest_agentbench.schemas.models import ModelSpec, resolve_models, split_model_args

if TYPE_CHECKING:
    from pytest_agentbench.attempt.verify import Verification
    from pytest_agentbench.schemas.canary import Canary
    from pytest_agentbench.schemas.results import AttemptResult


class RoutingHooks:
    NAME = "agentbench-routing"

    def __init__(self) -> None:
        self.session: AgentbenchSession = None  # type: ignore[assignment]  (set as the session starts)
        self.roles: list[RoleSpec] = []  # --agentbench-role's, read as the options are

    def pytest_agentbench_select_models(self, config: pytest.Config, registry: dict[str, ModelSpec],
                                        base_url: str, model_names: list[str]) -> ModelChoice | None:
        """``--agentbench-role`` (ini ``agentbench_role``): a role runs its incumbent and challengers.
        With ``--models`` it is an error: which models run would otherwise be a surprise."""
        names = split_model_args(config.getoption("agentbench_role") or config.getini("agentbench_role"))
        if not names:
            return None
        if model_names:
            raise pytest.UsageError("--agentbench-role and --models cannot be combined: a role runs "
                                    "its own incumbent and challengers")
        try:
            self.roles = chosen_roles(names, load_roles(config.rootpath, registry))
        except RoleError as exc:
            raise pytest.UsageError(str(exc)) from None
        return ModelChoice("--agentbench-role", resolve_models(role_model_names(self.roles), base_url, registry))

    def pytest_agentbench_session_started(self, session: AgentbenchSession) -> None:
        self.session = session

    def pytest_agentbench_annotate(self, result: AttemptResult, canary: Canary,
                                   verification: Verification) -> None:
        record_review(result, canary, verification)

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        roles = self.roles
        if not roles:
            return
        keep, drop = [], []
        for item in items:
            parts = attempt_parts(item)
            wanted = parts is None or any(
                parts[1].name in role.run_models and role.serves(parts[0].id, parts[0].tier, parts[0].tags)
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
        return [decide(role, role_metrics(role, results, models, settings.confidence),
                       escalation_summary(role, results, settings.confidence))
                for role in self.roles if role_attempts(role, results)]

    def pytest_agentbench_summary(self, aggregates: list[dict[str, Any]], terminalreporter: Any) -> None:
        if not self.roles:
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
        if self.roles:
            report["promotion"] = [decision.to_json() for decision in self.decisions()]
