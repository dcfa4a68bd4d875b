"""The tuning tables as terminal lines (hooks.py writes them under the agentbench summary)."""

from __future__ import annotations

from typing import Any

from pytest_agentbench.tuning.ceilings import CLASSES


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def _interval(low: float | None, high: float | None) -> str:
    return "-" if low is None or high is None else f"[{low:+.2f}, {high:+.2f}]"


def ofat_lines(table: dict[str, Any], confidence: float, repeats: int) -> list[str]:
    """Per model: the baseline, one row per factor value, its winners (and the all-on row)."""
    lines = []
    pct = f"{confidence * 100:g}% CI of delta"
    all_on = table.get("all_on", {})
    for model, base in table["baselines"].items():
        lines.append(f"{model}: baseline {base['c']}/{base['n']} = {_rate(base['pass_rate'])}")
        lines.append(f"  {'factor':<14} {'value':<22} {'n':>3} {'c':>3} {'pass':>5} {'delta':>6} "
                     f"{pct:>19}  verdict")
        rows = [row for row in table["cells"] if row["model"] == model]
        if model in all_on:
            rows.append({**all_on[model], "factor": "all-on",
                         "value": ",".join(f"{k}={v}" for k, v in all_on[model]["settings"].items()) or "(baseline)"})
        for row in rows:
            lines.append(f"  {row['factor']:<14} {str(row['value'])[:22]:<22} {row['n']:>3} {row['c']:>3} "
                         f"{_rate(row['pass_rate']):>5} {_signed(row['delta']):>6} "
                         f"{_interval(row.get('ci_low'), row.get('ci_high')):>19}  {row['verdict']}")
        winners = table["winners"].get(model) or {}
        lines.append("  winners: " + (", ".join(f"{k}={v}" for k, v in winners.items())
                                      or "none (no factor beat the baseline beyond noise)"))
    lines.append(f"better / worse: Newcombe's {confidence * 100:g}% interval of the difference to the "
                 "baseline excludes 0; else no evidence (at 3 repeats 0/3 -> 3/3 is evidence, "
                 "1/3 -> 2/3 is not)")
    if repeats < 3:
        lines.append(f"NOTE: {repeats} repeat(s): confirm any winner at --repeats 3 or more")
    return lines


def ceiling_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Per model the count of each class, then the cells behind them."""
    lines = []
    for model in sorted({row["model"] for row in rows}):
        mine = [row for row in rows if row["model"] == model]
        counts = " · ".join(f"{name} {found}" for name in CLASSES
                            if (found := sum(1 for r in mine if r["ceiling"] == name)))
        lines.append(f"{model}: {counts}")
        for row in mine:
            original = row["original"]
            raised = ", ".join(f"{r['budget']} x{r['factor']:g} {r['c']}/{r['n']}" for r in row["raised"])
            text = (f"  {row['ceiling']:<12} {row['canary']} ({row['variant']}): "
                    f"{original['c']}/{original['n']} -> {raised}")
            if row["ceiling"] == "undetermined":
                needed = row.get("repeats_needed")
                text += (f" - {row['note']}" if row.get("note")
                         else f" - about {needed} repeats per cell would tell" if needed
                         else " - more repeats would not tell at these rates")
            lines.append(text)
    lines.append("turn / token: raising that budget alone fixes it (Newcombe's interval excludes 0), "
                 "the other does not · either: each alone does · both: only raising turns and "
                 "tokens together does · output_cap: raising max_tokens does · time: more seconds "
                 "do · capability: no raise does at the largest factor and every limit hit was "
                 "raised, more budget is wasted · undetermined: this N cannot tell, or a limit "
                 "was hit that no raise reaches")
    return lines
