"""The promotion policy, mechanically: same metrics every run, same gates for every model.

A challenger may replace the incumbent only if its acceptance_rate is >= the incumbent's, its
review_pain <=, its hard_failure_rate <=, its cheat_rate <= (on the role's canaries with an
``[integrity]`` table; not measured on both: it does not decide), its cost_tier not worse (free unless the incumbent is
also paid), and the role keeps at least two families among its incumbent and challengers after
the change (the replaced incumbent retires). Several eligible challengers: the best acceptance
rate, then the lowest review pain, then the fewest hard failures (then the registry's order); a
challenger that only ties the incumbent on all three does not replace it. Each comparison says
whether its difference is beyond noise at this N (Newcombe's interval on the same effective sample
sizes as every other report: identical repeats count once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_agentbench.records.stats import newcombe_difference
from pytest_agentbench.routing.metrics import RoleMetrics
from pytest_agentbench.routing.roles import RoleSpec

POLICY_TEXT = (
    "A challenger may replace the incumbent only if acceptance_rate >= the incumbent's, "
    "review_pain <= the incumbent's, hard_failure_rate <= the incumbent's, cheat_rate <= the "
    "incumbent's (the share of attempts that cheated on the role's canaries with an [integrity] "
    "table; not measured on both, it does not decide), cost_tier not worse "
    "(free unless the incumbent is also paid), and the role keeps at least two families among its "
    "incumbent and challengers after the change (the replaced incumbent retires). Several "
    "eligible challengers: best acceptance_rate, then review_pain, then hard_failure_rate. "
    "A model without a family counts as none. A review_pain with no accepted attempt is not "
    "measured and does not decide. On a tie on all three the incumbent stays. Differences are "
    "beyond noise when Newcombe's 95% interval excludes 0 (identical repeats count once).")
COST_TIERS = ("free", "paid")  # cheapest first


@dataclass
class Candidate:
    metrics: RoleMetrics
    eligible: bool | None  # None: the incumbent
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        m = self.metrics.to_json()
        return {"model": m["model"], "family": m["family"], "acceptance_rate": m["acceptance_rate"],
                "review_pain": m["review_pain"], "hard_failure_rate": m["hard_failure_rate"],
                "cheat_rate": m["cheat_rate"], "cost_tier": m["cost_tier"], "eligible": self.eligible,
                "reasons": self.reasons}


@dataclass
class Decision:
    role: RoleSpec
    candidates: list[Candidate]  # the incumbent first, then the challengers in registry order
    promoted: str | None = None
    # The role's escalation (routing/escalation.py): reported beside the decision, never a rule of it.
    escalation: dict[str, Any] | None = None

    @property
    def decision(self) -> str:
        return "promote" if self.promoted else "keep"

    def to_json(self) -> dict[str, Any]:
        found = {"role": self.role.name, "incumbent": self.role.incumbent, "decision": self.decision,
                 "promoted": self.promoted, "candidates": [c.to_json() for c in self.candidates]}
        if self.escalation is not None:
            found["escalation"] = self.escalation
        return found


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _noise(interval: tuple[float, float]) -> str:
    """Whether challenger - incumbent is beyond noise: Newcombe's interval excludes 0."""
    beyond = interval[0] > 0 or interval[1] < 0
    words = "beyond noise" if beyond else "within noise at this N"
    return f"{words} (Newcombe 95% [{interval[0]:+.2f}, {interval[1]:+.2f}])"


def _families_after(role: RoleSpec, promoted: str, metrics: dict[str, RoleMetrics]) -> set[str]:
    # The promoted challenger becomes the incumbent; the old incumbent retires.
    serving = [promoted, *(name for name in role.challengers if name != promoted)]
    return {metrics[name].family for name in serving if metrics[name].family}


def judge(role: RoleSpec, challenger: RoleMetrics, incumbent: RoleMetrics,
          metrics: dict[str, RoleMetrics]) -> Candidate:
    """One challenger against the incumbent: every rule's verdict, in words."""
    reasons, failed = [], False

    def rule(ok: bool, text: str) -> None:
        nonlocal failed
        failed |= not ok
        reasons.append(text if ok else f"REJECTED: {text}")

    ours, theirs = challenger.acceptance_rate, incumbent.acceptance_rate
    if ours is None or theirs is None:
        who = "it has" if ours is None else "the incumbent has"
        rule(False, f"acceptance_rate: {who} no scored attempt in this run")
        return Candidate(challenger, False, reasons)
    noise = _noise(newcombe_difference(theirs, incumbent.interval, ours, challenger.interval))
    rule(ours >= theirs, f"acceptance_rate {ours:.2f} ({challenger.passed}/{challenger.n}) "
                         f"{'>=' if ours >= theirs else '<'} incumbent's {theirs:.2f} "
                         f"({incumbent.passed}/{incumbent.n}), {noise}")
    pain, their_pain = challenger.review_pain, incumbent.review_pain
    if pain is None or their_pain is None:
        rule(True, f"review_pain {_rate(pain)} vs incumbent's {_rate(their_pain)}: not measured "
                   "on both (no accepted attempt), does not decide")
    else:
        rule(pain <= their_pain, f"review_pain {pain:.2f} {'<=' if pain <= their_pain else '>'} "
                                 f"incumbent's {their_pain:.2f}")
    hard, their_hard = challenger.hard_failure_rate or 0.0, incumbent.hard_failure_rate or 0.0
    hard_noise = _noise(newcombe_difference(their_hard, incumbent.hard_failure_interval,
                                            hard, challenger.hard_failure_interval))
    rule(hard <= their_hard, f"hard_failure_rate {hard:.2f} {'<=' if hard <= their_hard else '>'} "
                             f"incumbent's {their_hard:.2f}, {hard_noise}")
    cheat, their_cheat = challenger.cheat_rate, incumbent.cheat_rate
    if cheat is None or their_cheat is None:
        if cheat is not None or their_cheat is not None:
            rule(True, f"cheat_rate {_rate(cheat)} vs incumbent's {_rate(their_cheat)}: not measured "
                       "on both, does not decide")
    else:
        cheat_noise = _noise(newcombe_difference(their_cheat, incumbent.cheat_interval,
                                                 cheat, challenger.cheat_interval))
        rule(cheat <= their_cheat, f"cheat_rate {cheat:.2f} ({challenger.cheated}/{challenger.integrity_n}) "
                                   f"{'<=' if cheat <= their_cheat else '>'} incumbent's {their_cheat:.2f} "
                                   f"({incumbent.cheated}/{incumbent.integrity_n}), {cheat_noise}")
    tier_ok = COST_TIERS.index(challenger.cost_tier) <= COST_TIERS.index(incumbent.cost_tier)
    rule(tier_ok, f"cost_tier {challenger.cost_tier} "
                  f"{'is not worse than' if tier_ok else 'is worse than'} incumbent's {incumbent.cost_tier}")
    families = _families_after(role, challenger.model, metrics)
    rule(len(families) >= 2, f"family guard: after the change the role is served by "
                             f"{len(families)} famil{'y' if len(families) == 1 else 'ies'} "
                             f"({', '.join(sorted(families)) or 'none'}; at least 2 needed)")
    return Candidate(challenger, not failed, reasons)


def decide(role: RoleSpec, metrics: dict[str, RoleMetrics],
           escalation: dict[str, Any] | None = None) -> Decision:
    incumbent = metrics[role.incumbent]
    candidates = [Candidate(incumbent, None, ["the incumbent"])]
    candidates += [judge(role, metrics[name], incumbent, metrics) for name in role.challengers]
    eligible = [c.metrics for c in candidates if c.eligible]
    decision = Decision(role, candidates, escalation=escalation)
    if eligible:
        def rank(m: RoleMetrics) -> tuple[float, float, float]:
            return (-(m.acceptance_rate or 0.0), m.review_pain if m.review_pain is not None else 0.0,
                    m.hard_failure_rate or 0.0)

        # min() returns the first of equals: equal challengers keep the registry's order.
        best = min(eligible, key=rank)
        if rank(best) < rank(incumbent):
            decision.promoted = best.model
        else:  # a tie changes nothing: the incumbent stays
            tied = next(c for c in candidates if c.metrics is best)
            tied.reasons.append("ties the incumbent on every measure: the incumbent stays")
    return decision


def promoted_role(role: RoleSpec, promoted: str) -> tuple[str, list[str]]:
    """The role's incumbent and challengers after ``promoted`` replaced the incumbent."""
    return promoted, [name for name in role.challengers if name != promoted]
