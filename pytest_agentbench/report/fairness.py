"""Fairness warnings ("'Same harness for both models' is not the same as 'fair'").

A fixed limit interacts differently with each model: an output cap starves a reasoning model, a
time limit a slow one. When one model (or variant) of a run lost a share of its attempts to a cap
or a timeout that the others did not, its pass rate measures the limit, not the model - the
summary, the JSON report (``fairness``) and the HTML report say so, with the knob to turn.
"""

from __future__ import annotations

from typing import Any

from pytest_agentbench.attempt.outcome import Outcome
from pytest_agentbench.report.summary import cell_fields, group_by, row_label
from pytest_agentbench.schemas.results import AttemptResult

# The ceilings that depend on a model's reasoning style or speed (turns and the context window
# are the same for every model).
LIMITS = {
    "output_cap": ("was cut by the per-response output cap (max_tokens)",
                   ("raise its max_tokens (registry or --agentbench-max-output-tokens) or lower "
                    "its think_level")),
    "token_budget": ("ran out of the attempt's token budget",
                     "raise --agentbench-max-tokens or the canary's budget.tokens"),
    "time_budget": ("ran out of the attempt's time budget",
                    ("use --agentbench-time-budget scaled (time proportional to decode speed) "
                     "or raise --agentbench-max-seconds")),
    "request_timeout": ("had a request outlive the per-request timeout",
                        "raise --agentbench-request-timeout or use --agentbench-time-budget scaled"),
}
MIN_SHARE = 0.2  # of a model's scored attempts
MIN_GAP = 0.2  # above the most any other model of the run lost to the same limit


def _label(model: str, cell: str) -> str:
    return row_label(cell_fields(model, cell))


def fairness_warnings(results: list[AttemptResult]) -> list[dict[str, Any]]:
    """One entry per model (× variant) and limit that starved it and not the others."""
    entrants = {key: [r for r in group.results if r.outcome != Outcome.INFRA_ERROR.value]
                for key, group in group_by(results, "model", "cell_variant").items()}
    entrants = {key: scored for key, scored in entrants.items() if scored}
    if len(entrants) < 2:
        return []
    warnings = []
    for limit, (what, fix) in LIMITS.items():
        cut = {key: [r for r in scored if r.limit_hit == limit and r.outcome != Outcome.PASSED.value]
               for key, scored in entrants.items()}
        shares = {key: len(cut[key]) / len(scored) for key, scored in entrants.items()}
        for key, share in shares.items():
            others = max(s for k, s in shares.items() if k != key)
            if share < MIN_SHARE or share - others < MIN_GAP:
                continue
            n, count = len(entrants[key]), len(cut[key])
            warnings.append({
                **cell_fields(*key), "limit": limit, "count": count, "n": n,
                "share": round(share, 4), "others_max_share": round(others, 4),
                "message": _message(_label(*key), what, fix, count, n, others, cut[key], entrants),
            })
    return warnings


def _message(label: str, what: str, fix: str, count: int, n: int, others: float,
             cut: list[AttemptResult], entrants: dict[tuple, list[AttemptResult]]) -> str:
    text = (f"fairness: {label} {what} in {count} of {n} attempts ({count / n:.0%}), the other "
            f"models of the run in at most {others:.0%}")
    reasoning = sum(1 for r in cut if "reasoning consumed" in r.detail)
    if reasoning:
        text += f"; reasoning ate the whole cap in {reasoning}"
    if cut[0].limit_hit in ("time_budget", "request_timeout"):
        speeds = {_label(*key): _speed(scored) for key, scored in entrants.items()}
        known = [f"{name} {speed:g}" for name, speed in speeds.items() if speed]
        if known:
            text += f" (decode tokens/s: {', '.join(known)})"
    return f"{text}: this measures the limit, not the model - {fix}"


def _speed(results: list[AttemptResult]) -> float | None:
    speeds = [r.decode_tokens_per_second or r.tokens_per_second for r in results]
    speeds = [s for s in speeds if s]
    return round(sum(speeds) / len(speeds), 1) if speeds else None
