"""The terminal summary: one line per model, readable at 100 columns."""

from __future__ import annotations

from pytest_agentbench.report.summary import group_by
from pytest_agentbench.results import AttemptResult
from pytest_agentbench.stats import wilson_interval

OUTCOME_ORDER = ["passed", "failed", "phantom", "budget_turns", "budget_tokens", "budget_time",
                 "malformed", "tool_confusion", "infra_error"]


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_lines(results: list[AttemptResult], repeats: int) -> list[str]:
    header = f"{'model':<22} {'n':>4} {'pass':>5} {'95% CI':>13} {'turns':>6} {'tokens':>8} {'malf':>5}  outcomes"
    lines = [header]
    for (model,), group in group_by(results, "model").items():
        n, c = group.n, group.c
        low, high = wilson_interval(c, n)
        rate = f"{c / n:.2f}" if n else "-"
        interval = f"[{low:.2f}, {high:.2f}]" if n else "-"
        tokens = group.mean("total_tokens")
        malformed = sum(r.malformed_tool_calls for r in group.results)
        counts = group.outcomes
        outcomes = " ".join(f"{name}={counts[name]}" for name in OUTCOME_ORDER if counts[name])
        lines.append(
            f"{model[:22]:<22} {n:>4} {rate:>5} {interval:>13} {_fmt(group.mean('turns')):>6} "
            f"{_fmt(tokens, 0):>8} {malformed:>5}  {outcomes}"
        )
    notes = []
    infra = sum(1 for r in results if r.outcome == "infra_error")
    if infra:
        notes.append(
            f"WARNING: {infra} attempt(s) ended in infra_error (model server fault); they are left out "
            "of n and the pass rates"
        )
    if repeats < 3:
        notes.append(f"NOTE: {repeats} repeat(s) per canary: anecdotal, use --repeats 3 or more")
    notes.append("n = scored attempts; pass = passed / n; turns and tokens are means per attempt")
    return lines + notes
