"""One factor at a time (the tuning protocol).

``--agentbench-ofat temperature=0 --agentbench-ofat directive=completeness`` runs, per model,
the baseline (the model's own settings, variant ``base``) and one variant per factor value, each
differing from the baseline in exactly that factor. The table compares each cell with its
model's baseline: the difference of the pass rates with Newcombe's interval, built from each
side's interval (report/summary.py ``Group.interval``: Wilson's, widened for repeats that are
clustered by canary or identical), and a verdict - ``better`` or ``worse`` when the interval
excludes 0, else ``no evidence``. At 3 repeats of one canary, 0/3 -> 3/3 is evidence and
1/3 -> 2/3 is not. A factor's winner is its ``better`` value with the largest difference; a
factor without one has no winner, and stays at the baseline in the all-on cell (all_on.py).
"""

from __future__ import annotations

from typing import Any

from pytest_agentbench.records.stats import difference_verdict, newcombe_difference
from pytest_agentbench.report.summary import Group, group_by
from pytest_agentbench.run.variants import BASE, Variant, parse_axes
from pytest_agentbench.schemas.results import AttemptResult

OFAT = "ofat"  # the key of a variant's tuning record (and of the JSON report's table)


def ofat_variants(texts: list[str], directives: dict[str, str]) -> list[Variant]:
    """The baseline and one variant per factor value, in the order given."""
    axes = parse_axes(texts, "--agentbench-ofat", directives)
    variants = [Variant(BASE, directives=directives, tuning={OFAT: {"baseline": True}})]
    for key, values in axes:
        for value in values:
            # "order": the table keeps the order given (the database sorts a run's keys).
            variants.append(Variant(f"{key}={value}", {key: value}, directives=directives,
                                    tuning={OFAT: {"factor": key, "value": value, "order": len(variants)}}))
    return variants


def ofat_factors(tuning: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(variant, factor, value) of a run's OFAT cells, from its settings' ``tuning`` record."""
    cells = [(record[OFAT].get("order", 0), name, record[OFAT]["factor"], record[OFAT]["value"])
             for name, record in tuning.items() if OFAT in record and "factor" in record[OFAT]]
    return [cell[1:] for cell in sorted(cells)]


def rate_row(group: Group | None, confidence: float) -> dict[str, Any]:
    """n, c, pass rate and its interval of one cell (None when it has no scored attempt)."""
    if group is None or not group.n:
        return {"n": 0, "c": 0, "pass_rate": None, "interval": None}
    return {"n": group.n, "c": group.c, "pass_rate": group.c / group.n,
            "interval": group.interval(confidence)}


def compare_with(base: dict[str, Any], cell: dict[str, Any]) -> dict[str, Any]:
    """The difference to the baseline, its Newcombe interval and the verdict."""
    if base["pass_rate"] is None or cell["pass_rate"] is None:
        return {"delta": None, "ci_low": None, "ci_high": None, "verdict": "no evidence"}
    low, high = newcombe_difference(base["pass_rate"], base["interval"], cell["pass_rate"], cell["interval"])
    return {"delta": round(cell["pass_rate"] - base["pass_rate"], 4), "ci_low": round(low, 4),
            "ci_high": round(high, 4), "verdict": difference_verdict((low, high))}


def ofat_table(results: list[AttemptResult], tuning: dict[str, dict[str, Any]],
               confidence: float = 0.95) -> dict[str, Any]:
    """The JSON report's ``ofat``: ``cells`` (model, factor, value, variant, n, c, pass_rate,
    delta, ci_low, ci_high, verdict), ``winners`` ({model: {factor: value}}) and, beside the
    contract, each model's ``baselines`` (n, c, pass_rate, ci_low, ci_high)."""
    groups = group_by(results, "model", "variant")
    factors = ofat_factors(tuning)
    cells, winners, baselines = [], {}, {}
    for model in sorted({model for model, _ in groups}):
        base = rate_row(groups.get((model, BASE)), confidence)
        baselines[model] = _public(base)
        best: dict[str, tuple[float, str]] = {}
        for variant, factor, value in factors:
            cell = rate_row(groups.get((model, variant)), confidence)
            row = {"model": model, "factor": factor, "value": value, "variant": variant,
                   **_public(cell, interval=False), **compare_with(base, cell)}
            cells.append(row)
            if row["verdict"] == "better" and (factor not in best or row["delta"] > best[factor][0]):
                best[factor] = (row["delta"], value)
        winners[model] = {factor: value for factor, (_, value) in best.items()}
    return {"cells": cells, "winners": winners, "baselines": baselines}


def _public(row: dict[str, Any], interval: bool = True) -> dict[str, Any]:
    """A rate row as the report writes it: rounded, the interval as ci_low/ci_high."""
    public = {"n": row["n"], "c": row["c"],
              "pass_rate": None if row["pass_rate"] is None else round(row["pass_rate"], 4)}
    if interval:
        low, high = row["interval"] or (None, None)
        public.update(ci_low=None if low is None else round(low, 4),
                      ci_high=None if high is None else round(high, 4))
    return public
