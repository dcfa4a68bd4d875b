"""The HTML report's comparison of the run's models, from the JSON report's dict: the outcome
glossary, the canary × model matrix of pass counts and the pairwise verdicts.

The pairwise verdict is the rule ``agentbench compare`` applies between two runs
(records/compare.py), between two models of one run instead: Newcombe's hybrid score interval of
the difference of the two pass rates (records/stats.py), built from each model's own interval as
the report shows it (Wilson's, on the distinct samples, widened for repeats of one canary), and
``better`` / ``worse`` only when that interval excludes 0, else ``no evidence``.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from pytest_agentbench.attempt.outcome import Outcome
from pytest_agentbench.records.stats import difference_verdict, newcombe_difference
from pytest_agentbench.report.summary import row_label


def outcome_glossary() -> list[tuple[str, str]]:
    """Every outcome with its one-line meaning, as attempt/outcome.py states it (``meaning``);
    an outcome it gives none for has an empty one."""
    return [(outcome.value, getattr(outcome, "meaning", "") or "") for outcome in Outcome]


def _cell_colour(c: int, n: int) -> str:
    """A pass share as a background: red (none passed) through yellow to green (all passed)."""
    if not n:
        return "#eaeef2"
    hue = round(120 * c / n)  # 0 red, 60 yellow, 120 green
    return f"hsl({hue}, 70%, 82%)"


def model_matrix(report: dict[str, Any]) -> dict[str, Any]:
    """Canaries (rows) × models (columns): each cell ``c/n`` passed with its colour; a model that
    did not run a canary has no cell (None). Models in the order the per-model table shows."""
    models = list(dict.fromkeys(row_label(row) for row in report.get("aggregates") or []
                                if row.get("tier") == "all"))
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for row in report.get("summary") or []:
        label = row_label(row)
        if label not in models:
            models.append(label)
        n, c = int(row.get("n") or 0), int(row.get("c") or 0)
        cells[(row["canary"], label)] = {
            "c": c, "n": n, "colour": _cell_colour(c, n), "stability": row.get("stability", ""),
            "infra_errors": row.get("infra_errors") or 0}
    canaries = sorted({canary for canary, _ in cells})
    return {"models": models,
            "rows": [{"canary": canary, "cells": [cells.get((canary, model)) for model in models]}
                     for canary in canaries]}


def pairwise(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each pair of models (model × variant × agent cells): their pass rates over the whole run,
    the difference ``first - second`` with Newcombe's interval, and the verdict for the first."""
    rows = [row for row in report.get("aggregates") or [] if row.get("tier") == "all" and row.get("n")]
    pairs = []
    for first, second in combinations(rows, 2):
        interval = newcombe_difference(second["pass_rate"], (second["ci_low"], second["ci_high"]),
                                       first["pass_rate"], (first["ci_low"], first["ci_high"]))
        pairs.append({
            "first": row_label(first), "second": row_label(second),
            "first_c": first["c"], "first_n": first["n"], "first_rate": first["pass_rate"],
            "second_c": second["c"], "second_n": second["n"], "second_rate": second["pass_rate"],
            "delta": round(first["pass_rate"] - second["pass_rate"], 4),
            "ci_low": round(interval[0], 4), "ci_high": round(interval[1], 4),
            "verdict": difference_verdict(interval),
        })
    return pairs
