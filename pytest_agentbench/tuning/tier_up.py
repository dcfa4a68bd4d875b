"""``--agentbench-tier-up``: the next tier up as the check of a model that passed its tier.

With the option, a run of ``--tier lite`` also runs the medium canaries (lite -> medium -> heavy):
the tiers asked for plus the next one up of each (the tuning plugin adds them to the run's tiers
as its session starts, so the core keeps their items at collection). Items are fixed when pytest
collects them, and under ``-n`` no worker sees another's results, so every model runs the next
tier; the summary then decides per model × variant and asked tier:

- the **gate** is the highest ``--agentbench-fail-under`` rate whose scope covers the model and
  the asked tier (1.0 without one: every scored attempt of the tier passed); with
  ``--agentbench-gate lower`` the Wilson interval's lower bound is compared with it, else the
  pass rate;
- a model at or above the gate on the asked tier **held up** one tier higher when it is at or
  above the same gate on the next tier, else it **did not hold up**; a model below the gate on the
  asked tier was not a candidate (its next-tier row is shown, not judged);
- beside it, the difference of the two pass rates with Newcombe's interval (as the OFAT table
  compares a cell with its baseline) and its verdict: ``worse`` when the interval lies below 0.
"""

from __future__ import annotations

from typing import Any

from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.report.summary import group_by
from pytest_agentbench.run.gates import Gate
from pytest_agentbench.schemas.results import AttemptResult
from pytest_agentbench.tuning.ofat import _public, compare_with, rate_row

KEY = "tier_up"  # the JSON report's table
NEXT_TIER = {"lite": "medium", "medium": "heavy"}
ALL_GATE = 1.0  # without a covering --agentbench-fail-under: the whole tier passed


class TierUpError(AgentbenchError, ValueError):
    """Asked tiers with no tier above them; the message says which."""


def tiers_with_next(asked: list[str]) -> list[str]:
    """The run's tiers: the asked ones, then the next one up of each that is not asked already.
    ``[]`` (every tier) stays ``[]``; a tier with nothing above it (heavy, integrity) alone is an
    error: there is nothing to check it with."""
    if not asked:
        return []
    added = [NEXT_TIER[t] for t in asked if t in NEXT_TIER and NEXT_TIER[t] not in asked]
    if not any(t in NEXT_TIER for t in asked):
        raise TierUpError(f"--agentbench-tier-up: no tier above {', '.join(asked)} (the tiers go "
                          "lite -> medium -> heavy): ask for lite or medium")
    return [*asked, *dict.fromkeys(added)]


def gate_for(model: str, tier: str, gates: list[Gate]) -> tuple[float, str]:
    """The rate a model must reach on ``tier`` and where it comes from."""
    covering = [g for g in gates if g.covers(model, tier)]
    if not covering:
        return ALL_GATE, "every attempt (no --agentbench-fail-under covers it)"
    gate = max(covering, key=lambda g: g.threshold)
    return gate.threshold, f"--agentbench-fail-under {gate.scope + ':' if gate.scope else ''}{gate.threshold:g}"


def _reaches(row: dict[str, Any], gate: float, mode: str) -> bool:
    if not row["n"]:
        return False
    value = row["interval"][0] if mode == "lower" else row["pass_rate"]
    return value >= gate - 1e-12


def tier_up_rows(results: list[AttemptResult], asked: list[str], gates: list[Gate], mode: str,
                 confidence: float = 0.95) -> list[dict[str, Any]]:
    """One row per model × variant × asked tier that has a tier above it and scored attempts."""
    groups = group_by(results, "model", "variant", "tier")
    cells = sorted({(model, variant) for model, variant, _ in groups})
    present = {tier for _, _, tier in groups}
    pairs = [(t, NEXT_TIER[t]) for t in (asked or sorted(present)) if t in NEXT_TIER]
    rows = []
    for model, variant in cells:
        for tier, above in pairs:
            base = rate_row(groups.get((model, variant, tier)), confidence)
            if not base["n"]:
                continue
            step = rate_row(groups.get((model, variant, above)), confidence)
            if not step["n"] and not asked:
                continue  # every tier ran and this one has no canary above it
            gate, source = gate_for(model, tier, gates)
            passed = _reaches(base, gate, mode)
            held = (_reaches(step, gate, mode) if step["n"] else None) if passed else None
            rows.append({"model": model, "variant": variant, "tier": tier, "next_tier": above,
                         "gate": gate, "gate_source": source, "gate_mode": mode,
                         "passed_gate": passed, "held_up": held,
                         "asked": _public(base), "next": _public(step),
                         **compare_with(base, step)})
    return rows


def _rate(row: dict[str, Any]) -> str:
    if not row["n"]:
        return "no scored attempt"
    return (f"{row['c']}/{row['n']} = {row['pass_rate']:.2f} "
            f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]")


def tier_up_lines(rows: list[dict[str, Any]], confidence: float) -> list[str]:
    """A "tier-up" line per model × variant × asked tier, then how to read them."""
    lines = []
    for row in rows:
        label = row["model"] if row["variant"] == "base" else f"{row['model']}/{row['variant']}"
        measure = "lower bound" if row["gate_mode"] == "lower" else "pass rate"
        if not row["passed_gate"]:
            verdict = f"below the gate on {row['tier']}: not a tier-up candidate"
        elif row["held_up"] is None:
            verdict = f"no scored attempt on {row['next_tier']}: cannot tell"
        else:
            verdict = "held up one tier higher" if row["held_up"] else "did not hold up one tier higher"
        delta = ("" if row["delta"] is None else
                 f"; delta {row['delta']:+.2f}, {confidence * 100:g}% CI "
                 f"[{row['ci_low']:+.2f}, {row['ci_high']:+.2f}] {row['verdict']}")
        lines.append(f"tier-up {label}: {row['tier']} {_rate(row['asked'])} -> {row['next_tier']} "
                     f"{_rate(row['next'])}: {verdict} (gate: {measure} >= {row['gate']:g}{delta})")
    lines.append("held up: at or above the asked tier's gate on the next tier too (the gate: the "
                 "highest --agentbench-fail-under covering the model and tier, else 1.0); delta: "
                 "next minus asked, Newcombe's interval; worse when it lies below 0")
    return lines
