"""Aggregation of attempt results — shared by the terminal summary, the JSON report and the gates.

``infra_error`` attempts say nothing about the model, so they are left out of every denominator
and counted apart. pass@k and pass^k are computed per canary (over its repeats) and averaged over
canaries, as in Chen et al. (2021); a canary with fewer than k scored repeats is left out of that k.

Identical repeats are one sample: repeats of a canary whose conversations have the
same fingerprint (``conversation_digest``: the replies and tool calls) and the same outcome count
once in ``distinct_repeats``, and the Wilson intervals are computed on that distinct count
(``stats.effective_wilson_interval``): the pass rate still counts every attempt.

Pooled rows (a tier, ``all``, a gate's scope) hold several canaries, and the repeats of one
canary are correlated: they share its difficulty. Their interval uses the cluster-robust
(sandwich) variance with the canary as the cluster (``stats.cluster_effective_size``): Wilson's
interval on the effective sample size that variance implies, never larger than the distinct
count. A canary's own row is one cluster, so its interval is unchanged.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from pytest_agentbench.attempt.outcome import Outcome
from pytest_agentbench.records.stats import (
    cluster_effective_size,
    effective_wilson_interval,
    pass_at_k,
    pass_hat_k,
    stability,
)
from pytest_agentbench.report.loop_stats import loop_stats
from pytest_agentbench.schemas.results import BUILTIN_AGENT, AttemptResult, split_cell_variant

INFRA = Outcome.INFRA_ERROR.value
BUDGET_OUTCOMES = tuple(o.value for o in Outcome if o.is_budget)
PASSED = Outcome.PASSED.value
DISCRIMINATOR = "discriminator"


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
        return sum(1 for r in self.scored if r.outcome == PASSED)

    @property
    def infra_errors(self) -> int:
        return len(self.results) - self.n

    @property
    def outcomes(self) -> Counter:
        return Counter(r.outcome for r in self.results)

    def mean(self, attribute: str, passed_only: bool = False) -> float | None:
        pool = [r for r in self.scored if r.outcome == PASSED] if passed_only else self.scored
        if not pool:
            return None
        return sum(getattr(r, attribute) for r in pool) / len(pool)

    @property
    def distinct(self) -> int:
        """Distinct samples among the scored attempts: repeats of one canary (model, variant)
        with the same conversation digest and outcome count once; no digest, no match."""
        return len({sample_key(r, index) for index, r in enumerate(self.scored)})

    @property
    def effective_samples(self) -> float:
        """The interval's sample size: the distinct samples, or fewer when the group pools
        several canaries whose repeats are correlated (``stats.cluster_effective_size``,
        clustered by model × variant × canary; one canary's own repeats are its sample)."""
        clusters = [(g.n, g.c) for g in group_by(self.scored, "model", "cell_variant", "canary").values()]
        return min(float(self.distinct), cluster_effective_size(clusters))

    def interval(self, confidence: float = 0.95) -> tuple[float, float]:
        """Wilson's interval of the pass rate on the effective sample size (module docstring)."""
        return effective_wilson_interval(self.c, self.n, self.effective_samples, confidence)  # type: ignore[arg-type]

    def per_canary(self) -> dict[str, Group]:
        return {key[0]: group for key, group in group_by(self.results, "canary").items()}

    def mean_over_canaries(self, k: int, estimator=pass_at_k) -> float | None:
        """pass@k (or pass^k) per canary, averaged; None when no canary has k scored repeats."""
        values = [estimator(g.n, g.c, k) for g in self.per_canary().values() if g.n >= k]
        return sum(values) / len(values) if values else None

    def stabilities(self) -> Counter:
        return Counter(stability(g.n, g.c) for g in self.per_canary().values())

    @property
    def malformed_rate(self) -> float | None:
        calls = sum(r.tool_calls for r in self.scored)
        return sum(r.malformed_tool_calls for r in self.scored) / calls if calls else None

    def rate_of(self, outcome: str) -> float | None:
        """The share of scored attempts with ``outcome`` (phantom rate, tamper rate)."""
        return sum(1 for r in self.scored if r.outcome == outcome) / self.n if self.n else None

    def pass_rate_by_try(self) -> list[float] | None:
        """Aider's pass_rate_1, pass_rate_2...: the share of scored attempts that passed within
        1, 2... tries: the first is the first try's pass rate, the last the final one. None when
        no attempt of the group had a second try available."""
        most = max((max(len(r.tries), r.max_tries) for r in self.scored), default=0)
        if most < 2 or not self.n:
            return None
        return [round(sum(1 for r in self.scored if (r.passed_on_try or most + 1) <= t) / self.n, 4)
                for t in range(1, most + 1)]

    def discriminator(self) -> Group:
        return Group([r for r in self.results if DISCRIMINATOR in r.tags])


def sample_key(result: AttemptResult, index: int) -> tuple:
    """What makes an attempt one sample: identical conversations of one cell share a key."""
    if not result.conversation_digest:
        return ("unique", index, result.canary, result.model, result.cell_variant, result.repeat)
    return (result.canary, result.model, result.cell_variant, result.conversation_digest, result.outcome)


def identical_repeats(results: list[AttemptResult]) -> list[dict]:
    """Per model × variant with identical repeats: how many canaries had them, how many had all
    their repeats identical, and how many samples the interval counts instead of attempts."""
    notes = []
    for (model, cell), group in group_by(results, "model", "cell_variant").items():
        cells = [g for g in group.per_canary().values() if g.n >= 2]
        repeated = [g for g in cells if g.distinct < g.n]
        if not repeated:
            continue
        notes.append({
            **cell_fields(model, cell), "canaries": len(cells),
            "with_identical_repeats": len(repeated),
            "all_identical": sum(1 for g in repeated if g.distinct == 1),
            "repeats": sorted({g.n for g in repeated}),
            "n": group.n, "distinct": group.distinct,
        })
    return notes


def identical_repeats_line(note: dict) -> str:
    """``m: 3 repeats identical in 5/5 canaries: the interval counts 5 samples, not 15``."""
    model = row_label(note)
    shown, total = note["with_identical_repeats"], note["canaries"]
    if note["all_identical"] == shown and len(note["repeats"]) == 1:
        what = f"{note['repeats'][0]} repeats identical in {shown}/{total} canaries"
    else:
        what = f"repeats partly identical in {shown}/{total} canaries"
        if note["all_identical"]:
            what += f" (all of them in {note['all_identical']})"
    samples = f"{note['distinct']} sample{'s' * (note['distinct'] != 1)}"
    return f"{model}: {what}: the interval counts {samples}, not {note['n']}"


def cell_fields(model: str, cell: str) -> dict[str, str]:
    """A row's model, variant and (only when it is not the built-in loop) agent: the
    agent × model rows of a run with --agentbench-agent; other runs' rows are as they were."""
    variant, agent = split_cell_variant(cell)
    return {"model": model, "variant": variant, **({"agent": agent} if agent != BUILTIN_AGENT else {})}


def row_label(row: dict) -> str:
    """``qwen``, ``qwen/temperature=0.7``, ``qwen via mini``: how a row's cell is shown."""
    label = row["model"] if row.get("variant", "base") == "base" else f"{row['model']}/{row['variant']}"
    agent = row.get("agent", BUILTIN_AGENT)
    return label if agent == BUILTIN_AGENT else f"{label} via {agent}"


def group_by(results: list[AttemptResult], *keys: str) -> dict[tuple, Group]:
    groups: dict[tuple, Group] = defaultdict(Group)
    for result in results:
        groups[tuple(getattr(result, key) for key in keys)].results.append(result)
    return dict(sorted(groups.items()))


def canary_rows(results: list[AttemptResult], confidence: float = 0.95) -> list[dict]:
    """The JSON report's ``summary``: one row per model × variant × canary."""
    rows = []
    for (model, cell, canary), group in group_by(results, "model", "cell_variant", "canary").items():
        n, c = group.n, group.c
        low, high = group.interval(confidence)
        rows.append({
            **cell_fields(model, cell), "canary": canary,
            "tier": group.results[0].tier, "n": n, "c": c,
            "pass_at_1": round(pass_at_k(n, c, 1), 4) if n else None,
            "pass_hat_k": round(pass_hat_k(n, c, n), 4) if n else None,
            "k": n, "ci_low": round(low, 4), "ci_high": round(high, 4),
            # Repeats with the same conversation and outcome count once; the interval uses this.
            "distinct_repeats": group.distinct,
            "stability": stability(n, c),
            "pass_rate_by_try": group.pass_rate_by_try(),
            "infra_errors": group.infra_errors,
            "outcomes": dict(sorted(group.outcomes.items())),
        })
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def aggregate_row(group: Group, ks: list[int], confidence: float = 0.95) -> dict:
    low, high = group.interval(confidence)
    outcomes = group.outcomes
    discriminator = group.discriminator()
    return {
        "n": group.n, "c": group.c,
        "pass_rate": _round(group.c / group.n) if group.n else None,
        "ci_low": round(low, 4), "ci_high": round(high, 4), "confidence": confidence,
        # The interval's sample size: identical repeats of a canary count once (< n: marked).
        "distinct_samples": group.distinct,
        # ... and the repeats of one canary, correlated, count less than independent attempts.
        "effective_samples": round(group.effective_samples, 2),
        "interval_method": "wilson, cluster-robust by canary",
        "pass_at_k": {str(k): _round(group.mean_over_canaries(k)) for k in ks},
        "pass_hat_k": {str(k): _round(group.mean_over_canaries(k, pass_hat_k)) for k in ks},
        "stability": dict(sorted(group.stabilities().items())),
        "mean_turns_to_complete": _round(group.mean("turns", passed_only=True)),
        "malformed_call_rate": _round(group.malformed_rate),
        "phantom_rate": _round(group.rate_of(Outcome.PHANTOM.value)),
        "tamper_rate": _round(group.rate_of(Outcome.TAMPERED.value)),
        # Apart from phantom: a model that said it could not do the task, not one that claimed it.
        "escalation_rate": _round(group.rate_of(Outcome.ESCALATED.value)),
        "pass_rate_by_try": group.pass_rate_by_try(),
        "budget_exceeded": {kind: outcomes[kind] for kind in BUDGET_OUTCOMES},
        "discriminator": {"n": discriminator.n, "c": discriminator.c} if discriminator.results else None,
        "infra_errors": group.infra_errors,
        "outcomes": dict(sorted(outcomes.items())),
        **loop_stats(group.scored),
    }


def aggregate_rows(results: list[AttemptResult], ks: list[int], confidence: float = 0.95) -> list[dict]:
    """Per model × variant × tier, plus an ``all`` row per model × variant."""
    rows = []
    for (model, cell), group in group_by(results, "model", "cell_variant").items():
        for (tier,), tier_group in group_by(group.results, "tier").items():
            rows.append({**cell_fields(model, cell), "tier": tier,
                         **aggregate_row(tier_group, ks, confidence)})
        rows.append({**cell_fields(model, cell), "tier": "all",
                     **aggregate_row(group, ks, confidence)})
    return rows
