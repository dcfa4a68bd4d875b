"""Turbo escalation: a role's ``escalation = ["bigger", ...]`` retries each failed attempt of the
incumbent on those models, in order, until one passes.

pytest fixes a run's items when it collects them, and under ``-n`` no worker sees another's
results, so a role run collects the escalation models on every canary × repeat of the role, like
its challengers, and escalation is read from the results afterwards: for a failed attempt of the
incumbent (canary, repeat), the escalation models' attempts of the same canary and repeat are
taken in order until one passed. That is what retrying would have done, attempt for attempt; the
escalation models' attempts that order never reaches (the incumbent passed, or an earlier
escalation model recovered the attempt) were not needed and are counted apart (``not_needed``),
never in the cost.

- ``recovery_rate``: failed attempts some escalation model recovered / failed attempts of the
  incumbent (scored: ``infra_error`` is left out), with Wilson's interval on the effective sample
  size of attempts clustered by canary (records/stats.py, as every pooled rate);
- ``cost``: the turns, tokens (prompt + completion) and seconds (wall time) of the escalation
  attempts taken in that order — each failed attempt pays for every model tried until one
  passed, or for all of them;
- an escalation attempt that is missing or ended in ``infra_error`` is passed over (the next model
  is tried) and counted in ``unavailable``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from pytest_agentbench.attempt.outcome import Outcome
from pytest_agentbench.records.stats import cluster_effective_size, effective_wilson_interval
from pytest_agentbench.routing.roles import RoleSpec
from pytest_agentbench.schemas.results import AttemptResult

PASSED = Outcome.PASSED.value
INFRA = Outcome.INFRA_ERROR.value


def escalation_summary(role: RoleSpec, results: list[AttemptResult],
                       confidence: float = 0.95) -> dict[str, Any] | None:
    """The role's escalation as the JSON report's ``promotion[].escalation``; None without one."""
    if not role.escalation:
        return None
    mine = [r for r in results if r.variant == "base" and r.agent == role.agent
            and role.serves(r.canary, r.tier, r.tags)]
    attempts = {(r.model, r.canary, r.repeat): r for r in mine}
    failed = sorted((r for r in mine if r.model == role.incumbent and r.outcome not in (PASSED, INFRA)),
                    key=lambda r: (r.canary, r.repeat))
    recovered_by: Counter = Counter()
    clusters: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    cost = {"attempts": 0, "turns": 0, "prompt_tokens": 0, "completion_tokens": 0, "tokens": 0,
            "seconds": 0.0}
    unavailable = 0
    cells = []
    for attempt in failed:
        tried, winner = [], None
        for model in role.escalation:
            retry = attempts.get((model, attempt.canary, attempt.repeat))
            if retry is None or retry.outcome == INFRA:
                unavailable += 1
                continue
            tried.append({"model": model, "outcome": retry.outcome})
            cost["attempts"] += 1
            cost["turns"] += retry.turns
            cost["prompt_tokens"] += retry.prompt_tokens
            cost["completion_tokens"] += retry.completion_tokens
            cost["seconds"] += retry.wall_seconds
            if retry.outcome == PASSED:
                winner = model
                break
        cluster = clusters[attempt.canary]
        cluster[0] += 1
        cluster[1] += winner is not None
        if winner is not None:
            recovered_by[winner] += 1
        cells.append({"canary": attempt.canary, "repeat": attempt.repeat, "outcome": attempt.outcome,
                      "recovered_by": winner, "tried": tried})
    cost["tokens"] = cost["prompt_tokens"] + cost["completion_tokens"]
    cost["seconds"] = round(cost["seconds"], 3)
    n, c = len(failed), sum(recovered_by.values())
    effective = min(float(n), cluster_effective_size([(size, won) for size, won in clusters.values()]))
    low, high = effective_wilson_interval(c, n, effective, confidence)  # type: ignore[arg-type]
    taken = {(t["model"], cell["canary"], cell["repeat"]) for cell in cells for t in cell["tried"]}
    not_needed = sum(1 for r in mine if r.model in role.escalation and r.model not in role.models
                     and r.outcome != INFRA and (r.model, r.canary, r.repeat) not in taken)
    return {"models": list(role.escalation), "failed": n, "recovered": c,
            "recovery_rate": round(c / n, 4) if n else None,
            "ci_low": round(low, 4) if n else None, "ci_high": round(high, 4) if n else None,
            "recovered_by": {model: recovered_by[model] for model in role.escalation},
            "cost": cost, "unavailable": unavailable, "not_needed": not_needed, "cells": cells}


def escalation_line(summary: dict[str, Any], incumbent: str) -> str:
    """The summary's (and the promotion report's) line for one role's escalation."""
    models = " -> ".join(summary["models"])
    if not summary["failed"]:
        return f"escalation {models}: no failed attempt of {incumbent} to recover"
    by = ", ".join(f"{model} {count}" for model, count in summary["recovered_by"].items())
    cost = summary["cost"]
    line = (f"escalation {models}: recovered {summary['recovered']}/{summary['failed']} failed "
            f"attempts of {incumbent} = {summary['recovery_rate']:.2f} "
            f"[{summary['ci_low']:.2f}, {summary['ci_high']:.2f}] (by {by}); cost "
            f"{cost['turns']} turns, {cost['tokens']:,} tokens, {cost['seconds']:.1f} s in "
            f"{cost['attempts']} escalation attempt{'s' * (cost['attempts'] != 1)}")
    if summary["unavailable"]:
        line += f"; {summary['unavailable']} passed over (missing or infra_error)"
    return line
