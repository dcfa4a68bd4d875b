"""Aggregation of attempt results into per (model, variant, canary) rows — shared by the
terminal summary and the JSON report. ``infra_error`` attempts say nothing about the model, so
they are left out of every denominator and counted apart."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from pytest_agentbench.results import AttemptResult
from pytest_agentbench.stats import pass_at_k, pass_hat_k, wilson_interval

INFRA = "infra_error"


@dataclass
class Group:
    results: list[AttemptResult] = field(default_factory=list)

    @property
    def scored(self) -> list[AttemptResult]:
        return [r for r in self.results if r.outcome != INFRA]

    @property
    def n(self) -> int:
        return len(self.scored)

    @property
    def c(self) -> int:
        return sum(1 for r in self.scored if r.outcome == "passed")

    @property
    def infra_errors(self) -> int:
        return len(self.results) - self.n

    @property
    def outcomes(self) -> Counter:
        return Counter(r.outcome for r in self.results)

    def mean(self, attribute: str, passed_only: bool = False) -> float | None:
        pool = [r for r in self.scored if r.outcome == "passed"] if passed_only else self.scored
        if not pool:
            return None
        return sum(getattr(r, attribute) for r in pool) / len(pool)


def group_by(results: list[AttemptResult], *keys: str) -> dict[tuple, Group]:
    groups: dict[tuple, Group] = defaultdict(Group)
    for result in results:
        groups[tuple(getattr(result, key) for key in keys)].results.append(result)
    return dict(sorted(groups.items()))


def canary_rows(results: list[AttemptResult], confidence: float = 0.95) -> list[dict]:
    """The JSON report's ``summary``: one row per model × variant × canary."""
    rows = []
    for (model, variant, canary), group in group_by(results, "model", "variant", "canary").items():
        n, c = group.n, group.c
        low, high = wilson_interval(c, n, confidence)
        rows.append({
            "model": model, "variant": variant, "canary": canary,
            "tier": group.results[0].tier, "n": n, "c": c,
            "pass_at_1": round(pass_at_k(n, c, 1), 4) if n else None,
            "pass_hat_k": round(pass_hat_k(n, c, n), 4) if n else None,
            "k": n, "ci_low": round(low, 4), "ci_high": round(high, 4),
            "infra_errors": group.infra_errors,
            "outcomes": dict(sorted(group.outcomes.items())),
        })
    return rows
