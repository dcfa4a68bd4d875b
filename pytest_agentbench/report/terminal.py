"""The terminal summary: one row per model × tier (and an ``all`` row), readable at 100 columns."""

from __future__ import annotations

from pytest_agentbench.report.summary import aggregate_rows
from pytest_agentbench.results import AttemptResult

OUTCOME_ORDER = ["passed", "failed", "phantom", "tampered", "budget_turns", "budget_tokens",
                 "budget_time", "malformed", "tool_confusion", "invalid_output", "infra_error"]


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return _fmt(None if value is None else 100 * value, 0)


def default_ks(repeats: int) -> list[int]:
    return sorted({1, repeats})


def summary_lines(results: list[AttemptResult], repeats: int, ks: list[int] | None = None,
                  confidence: float = 0.95) -> list[str]:
    ks = ks or default_ks(repeats)
    pct = f"{confidence * 100:g}% CI"
    header = (f"{'model':<18} {'tier':<6} {'n':>4} {'pass@1':>6} {pct:>13} "
              + " ".join(f"{'pass@' + str(k):>7} {'pass^' + str(k):>7}" for k in ks if k > 1)
              + f" {'flaky':>5} {'turns✓':>6} {'malf%':>5} {'phan%':>5} {'tamp%':>5}")
    lines = [header]
    multi_tier = len({r.tier for r in results}) > 1
    for row in aggregate_rows(results, ks, confidence):
        if row["tier"] == "all" and not multi_tier:
            continue  # the single tier's row already says it all
        model = row["model"] if row["variant"] == "base" else f"{row['model']}/{row['variant']}"
        interval = f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]" if row["n"] else "-"
        malformed = row["malformed_call_rate"]
        cells = [f"{model[:18]:<18} {row['tier']:<6} {row['n']:>4} {_fmt(row['pass_rate']):>6} {interval:>13}"]
        cells += [f"{_fmt(row['pass_at_k'][str(k)]):>7} {_fmt(row['pass_hat_k'][str(k)]):>7}" for k in ks if k > 1]
        cells.append(f"{row['stability'].get('flaky', 0):>5} {_fmt(row['mean_turns_to_complete'], 1):>6} "
                     f"{_percent(malformed):>5} {_percent(row['phantom_rate']):>5} "
                     f"{_percent(row['tamper_rate']):>5}")
        lines.append(" ".join(cells))
        counts = row["outcomes"]
        outcomes = " ".join(f"{name}={counts[name]}" for name in OUTCOME_ORDER if counts.get(name))
        if row["discriminator"]:
            outcomes += f" · discriminator {row['discriminator']['c']}/{row['discriminator']['n']}"
        if row["pass_rate_by_try"]:
            outcomes += " · passed within " + ", ".join(
                f"{t} {'try' if t == 1 else 'tries'} {rate:.2f}"
                for t, rate in enumerate(row["pass_rate_by_try"], start=1))
        lines.append(f"{'':<25}{outcomes}")
    notes = []
    infra = sum(1 for r in results if r.outcome == "infra_error")
    if infra:
        notes.append(
            f"WARNING: {infra} attempt(s) ended in infra_error (model server fault); they are left out "
            "of n and every rate"
        )
    if repeats < 3:
        notes.append(f"NOTE: {repeats} repeat(s) per canary: anecdotal, use --repeats 3 or more")
    notes.append("n = scored attempts · pass@1 = passed/n · pass@k, pass^k: means over canaries")
    notes.append("flaky = canaries with mixed results · turns✓ = mean turns of passed attempts · "
                 "malf% = malformed/tool calls")
    notes.append("phan% = phantom (no qualifying change) · tamp% = tampered (touched what decides "
                 "the verdict and did not pass), of n")
    return lines + notes
