"""The all-on cell ("finish with an all-on combined cell of the
per-factor winners").

``--agentbench-all-on RUN_ID|last`` reads an OFAT run (ofat.py) from the database and runs, per
model of that run, one variant ``all-on`` with that model's winners combined (a factor without
evidence stays at the baseline) on the source run's canaries. The report shows the source run's
OFAT table with the all-on row added, compared with the source run's baseline.
"""

from __future__ import annotations

from typing import Any

from pytest_agentbench.report.summary import group_by
from pytest_agentbench.run.variants import BASE, Variant
from pytest_agentbench.schemas.results import AttemptResult
from pytest_agentbench.tuning.ofat import compare_with, ofat_factors, ofat_table, rate_row
from pytest_agentbench.tuning.source import SourceError, SourceRun

ALL_ON = "all-on"  # the variant's name (contract)
KEY = "all_on"  # its tuning record, and the JSON report's ofat.all_on


def all_on_variant(source: SourceRun, model_names: list[str], directives: dict[str, str],
                   confidence: float) -> Variant:
    """One ``all-on`` variant: each model's own winners of the source run's OFAT table."""
    if not ofat_factors(source.tuning):
        raise SourceError(f"--agentbench-all-on: run {source.run_id} is not an OFAT run (it has no "
                          "--agentbench-ofat cells): run one first, e.g. --agentbench-ofat temperature=0,0.7")
    winners = ofat_table(source.attempts, source.tuning, confidence)["winners"]
    per_model = {name: dict(winners.get(name, {})) for name in model_names}
    return Variant(ALL_ON, per_model=per_model, directives=directives,
                   tuning={KEY: {"source_run": source.run_id, "canaries": source.canaries,
                                 "settings": per_model}})


def all_on_rows(results: list[AttemptResult], source_results: list[AttemptResult],
                record: dict[str, Any], confidence: float) -> dict[str, dict[str, Any]]:
    """``ofat.all_on``: per model, the all-on cell of this run against the source's baseline."""
    here = group_by(results, "model", "variant")
    there = group_by(source_results, "model", "variant")
    rows = {}
    for model, settings in sorted(record["settings"].items()):
        base = rate_row(there.get((model, BASE)), confidence)
        cell = rate_row(here.get((model, ALL_ON)), confidence)
        comparison = compare_with(base, cell)
        rows[model] = {"variant": ALL_ON, "settings": settings, "n": cell["n"], "c": cell["c"],
                       "pass_rate": None if cell["pass_rate"] is None else round(cell["pass_rate"], 4),
                       **comparison}
    return rows

