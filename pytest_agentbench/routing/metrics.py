"""Metrics per model x role, from a run's attempts (live or from the database).

- ``acceptance_rate``: passed / scored attempts (``infra_error`` is not scored), with Wilson's
  interval on the effective sample size of repeats clustered by canary (docs: "Statistics");
- ``review_pain``: over accepted attempts, the mean of their review pain (routing/review.py);
  None when nothing was accepted;
- ``hard_failure_rate``: attempts that left nothing to review / scored attempts (soft failures
  are reviewable changes that fail their checks);
- ``family`` and ``cost_tier`` from the registry entry;
- the severity-weighted pass count: the severities of passing acceptance checks, of their total;
- ``cheat_rate``: over the role's attempts on canaries with an ``[integrity]`` table, the share
  that cheated (records/propensity.py), with its interval; None when none was measured.

Only a model's ``base`` variant counts: a sweep's variants are other configurations.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pytest_agentbench.attempt.outcome import Outcome
from pytest_agentbench.records.propensity import cheat_count, cheat_interval
from pytest_agentbench.records.stats import (
    effective_wilson_interval,
)
from pytest_agentbench.report.summary import Group
from pytest_agentbench.routing.roles import RoleSpec
from pytest_agentbench.schemas.results import AttemptResult

# Outcomes that leave nothing to review, whatever the tree holds.
HARD_OUTCOMES = frozenset({Outcome.PHANTOM.value, Outcome.MALFORMED.value, Outcome.TOOL_CONFUSION.value,
                           Outcome.TAMPERED.value, Outcome.INVALID_OUTPUT.value, Outcome.CHEATED.value})
BUDGET_OUTCOMES = frozenset({Outcome.BUDGET_TURNS.value, Outcome.BUDGET_TOKENS.value,
                             Outcome.BUDGET_TIME.value})


def is_hard_failure(result: AttemptResult) -> bool:
    """Nothing to review: a hard outcome, or a budget outcome that changed no file."""
    return result.outcome in HARD_OUTCOMES or (result.outcome in BUDGET_OUTCOMES
                                               and not result.files_changed)


@dataclass
class RoleMetrics:
    model: str
    family: str | None
    cost_tier: str
    n: int = 0  # scored attempts
    passed: int = 0
    hard_failures: int = 0
    pains: list[int] = field(default_factory=list)  # of accepted attempts
    severity_passed: int = 0  # the severity-weighted pass count, of severity_total
    severity_total: int = 0
    interval: tuple[float, float] = (0.0, 1.0)  # of acceptance_rate
    effective: float | None = None  # the intervals' sample size (None: n): distinct, clustered
    cases: int = 0  # distinct canaries of the role this model was scored on ("3 cases")
    cheated: int = 0  # of integrity_n: attempts on canaries with an [integrity] table
    integrity_n: int = 0
    cheat_interval: tuple[float, float] = (0.0, 1.0)

    @property
    def cheat_rate(self) -> float | None:
        return self.cheated / self.integrity_n if self.integrity_n else None

    @property
    def acceptance_rate(self) -> float | None:
        return self.passed / self.n if self.n else None

    @property
    def hard_failure_rate(self) -> float | None:
        return self.hard_failures / self.n if self.n else None

    @property
    def hard_failure_interval(self) -> tuple[float, float]:
        return effective_wilson_interval(self.hard_failures, self.n,
                                         self.n if self.effective is None else self.effective)

    @property
    def review_pain(self) -> float | None:
        return round(sum(self.pains) / len(self.pains), 4) if self.pains else None

    def to_json(self) -> dict[str, Any]:
        rate, hard = self.acceptance_rate, self.hard_failure_rate
        return {"model": self.model, "family": self.family, "n": self.n, "passed": self.passed,
                "acceptance_rate": None if rate is None else round(rate, 4),
                "ci_low": round(self.interval[0], 4), "ci_high": round(self.interval[1], 4),
                "review_pain": self.review_pain,
                "hard_failure_rate": None if hard is None else round(hard, 4),
                "cost_tier": self.cost_tier, "severity_passed": self.severity_passed,
                "severity_total": self.severity_total, "cases": self.cases,
                "cheated": self.cheated, "integrity_n": self.integrity_n,
                "cheat_rate": None if self.cheat_rate is None else round(self.cheat_rate, 4),
                "cheat_ci": [round(bound, 4) for bound in self.cheat_interval] if self.integrity_n else None}


def role_attempts(role: RoleSpec, results: list[AttemptResult]) -> list[AttemptResult]:
    """The scored base-variant attempts of the role's models on the canaries that serve it."""
    return [r for r in results if r.model in role.models and r.variant == "base" and r.agent == role.agent
            and r.outcome != Outcome.INFRA_ERROR.value and role.serves(r.canary, r.tier, r.tags)]


def role_metrics(role: RoleSpec, results: list[AttemptResult], models: dict[str, dict[str, Any]],
                 confidence: float = 0.95) -> dict[str, RoleMetrics]:
    """``{model: RoleMetrics}`` for the incumbent and each challenger (in that order); ``models``
    gives each model's ``family`` and ``cost_tier`` (a registry entry's, else the run's record)."""
    found = {name: RoleMetrics(name, models.get(name, {}).get("family"),
                               models.get(name, {}).get("cost_tier") or "free")
             for name in role.models}
    clusters: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    scored: dict[str, list[AttemptResult]] = defaultdict(list)
    for result in role_attempts(role, results):
        scored[result.model].append(result)
        metrics = found[result.model]
        accepted = result.outcome == Outcome.PASSED.value
        metrics.n += 1
        metrics.passed += accepted
        metrics.hard_failures += is_hard_failure(result)
        metrics.severity_passed += result.severity_passed or 0
        metrics.severity_total += result.severity_total or 0
        if accepted and result.review_pain is not None:
            metrics.pains.append(result.review_pain)
        cluster = clusters[result.model][result.canary]
        cluster[0] += 1
        cluster[1] += accepted
    for name, metrics in found.items():
        metrics.cases = len(clusters[name])
        # The one noise rule of every report (report/summary.py): identical repeats are one
        # sample, and repeats clustered by canary count as fewer.
        metrics.effective = Group(scored[name]).effective_samples if scored[name] else 0.0
        metrics.interval = effective_wilson_interval(metrics.passed, metrics.n, metrics.effective,
                                                     confidence)
        metrics.cheated, metrics.integrity_n, _ = cheat_count(scored[name])
        metrics.cheat_interval = cheat_interval(scored[name], confidence)
    return found
