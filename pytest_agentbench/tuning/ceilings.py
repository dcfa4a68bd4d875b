"""Which budget a budget failure needs (issue 15, item 4; seed 001: "distinguish turn ceiling vs
token ceiling vs capability ceiling - sweeping both budgets tells you which").

``--agentbench-ceilings RUN_ID|last`` reads a run from the database and, for every model ×
variant × canary of it with a ``budget_turns`` or ``budget_tokens`` outcome, runs that cell again
with the turn budget raised alone and with the token budget raised alone, by each factor of
``--agentbench-ceiling-factors`` (default 2,4: a multiple of the budget the cell had). Each cell
is then classified from the Newcombe interval of "raised minus original" (ofat.py's comparison):

- a budget *fixes* the cell when some factor's difference excludes 0 upwards;
- it *does not* when at the largest factor the raised pass rate is no higher than the original;
- otherwise the evidence at this N cannot tell.

``turn``: turns fix it, tokens do not; ``token``: the reverse; ``either``: both fix it;
``capability``: neither does at the largest factor (more budget is wasted); ``undetermined``:
anything else, with the repeats that would tell (``repeats_needed``: the smallest N per side at
which the same pass rates would be evidence). A cell that needs *both* budgets raised together
reads as ``capability`` here: each budget is raised alone, as the method prescribes.
"""

from __future__ import annotations

from typing import Any

from pytest_agentbench.models import ModelSpec
from pytest_agentbench.outcome import Outcome
from pytest_agentbench.report.summary import group_by
from pytest_agentbench.results import AttemptResult
from pytest_agentbench.stats import newcombe_interval
from pytest_agentbench.tuning.factors import budget_factors
from pytest_agentbench.tuning.ofat import compare_with, rate_row
from pytest_agentbench.tuning.source import SourceError, SourceRun
from pytest_agentbench.variants import BASE, Variant

KEY = "ceiling"  # a variant's tuning record
RAISED = ("turns", "tokens")
CEILING_OUTCOMES = (Outcome.BUDGET_TURNS.value, Outcome.BUDGET_TOKENS.value)
CLASSES = ("turn", "token", "either", "capability", "undetermined")
MAX_REPEATS = 100  # repeats_needed looks this far; beyond it the difference is too small to chase


class FactorError(ValueError):
    """A --agentbench-ceiling-factors value that cannot be used."""


def parse_factors(text: str | None) -> list[float]:
    """``"2,4"`` → ``[2.0, 4.0]``: distinct multiples above 1, ascending."""
    if text is None:
        return [2.0, 4.0]
    try:
        factors = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError:
        factors = []
    if not factors or factors[0] <= 1 or factors[-1] != factors[-1] or factors[-1] == float("inf"):
        raise FactorError(f"--agentbench-ceiling-factors: {text!r}: expected multiples above 1, "
                          "e.g. 2,4 (each raises one budget to that many times the cell's)")
    return factors


def budget_cells(source: SourceRun) -> dict[str, dict[str, list[str]]]:
    """{source variant: {model: [canary]}} of the cells with a turn or token budget outcome."""
    cells: dict[str, dict[str, list[str]]] = {}
    for (model, variant, canary), group in group_by(source.attempts, "model", "variant", "canary").items():
        if any(r.outcome in CEILING_OUTCOMES for r in group.results):
            cells.setdefault(variant, {}).setdefault(model, []).append(canary)
    return cells


def _raised(value: Any, factor: float) -> str | int:
    """A budget the source variant set itself, raised by ``factor`` (a multiple stays one)."""
    if isinstance(value, str) and value.startswith("x"):
        return f"x{float(value[1:]) * factor:g}"
    return round(float(value) * factor)


def ceiling_variants(source: SourceRun, models: list[ModelSpec], factors: list[float],
                     directives: dict[str, str]) -> list[Variant]:
    """Per source variant with budget cells, one variant per budget × factor (``turns=x2``,
    ``temperature=0,tokens=x4``): the source variant's settings with that one budget raised
    (a budget the model or the variant set itself is raised from there, else the canary's)."""
    cells = budget_cells(source)
    if not cells:
        raise SourceError(f"--agentbench-ceilings: run {source.run_id} has no budget_turns or "
                          "budget_tokens outcome: no ceiling to tell apart")
    per_model_source = _per_model_settings(source)
    variants = []
    for source_variant, by_model in sorted(cells.items()):
        overrides = dict(source.variants.get(source_variant, {}))
        registry = {m.name: budget_factors(m) for m in models}
        wanted = {model: canaries for model, canaries in by_model.items() if model in registry}
        for budget in RAISED:
            for factor in factors:
                label = f"{budget}=x{factor:g}"
                name = label if source_variant == BASE else f"{source_variant},{label}"
                per_model = {}
                for model in wanted:
                    own = {**registry[model], **overrides,
                           **per_model_source.get(source_variant, {}).get(model, {})}
                    per_model[model] = {**own, budget: _raised(own[budget], factor) if budget in own
                                        else f"x{factor:g}"}
                variants.append(Variant(name, per_model=per_model, directives=directives, tuning={KEY: {
                    "source_run": source.run_id, "source_variant": source_variant,
                    "budget": budget, "factor": factor, "cells": wanted}}))
    return variants


def _per_model_settings(source: SourceRun) -> dict[str, dict[str, dict[str, Any]]]:
    """Variants of the source run whose settings differ per model (its all-on cell)."""
    return {name: record["all_on"]["settings"] for name, record in source.tuning.items()
            if "all_on" in record}


def repeats_needed(base_rate: float, new_rate: float, confidence: float) -> int | None:
    """The smallest repeats per side at which these two pass rates would be evidence of a
    difference (None: not within MAX_REPEATS, or no difference to find)."""
    if new_rate <= base_rate:
        return None
    for n in range(2, MAX_REPEATS + 1):
        if newcombe_interval(round(base_rate * n), n, round(new_rate * n), n, confidence)[0] > 0:
            return n
    return None


def _effect(original: dict[str, Any], raised: list[dict[str, Any]]) -> str:
    """``fixes``, ``no`` or ``unclear`` for one budget's raised cells (ascending factors)."""
    if any(compare_with(original, cell)["verdict"] == "better" for cell in raised):
        return "fixes"
    largest = raised[-1] if raised else None
    if largest and largest["pass_rate"] is not None and original["pass_rate"] is not None \
            and largest["pass_rate"] <= original["pass_rate"]:
        return "no"
    return "unclear"


def classify(original: dict[str, Any], raised: dict[str, list[dict[str, Any]]]) -> str:
    """The ceiling class of one cell from its original and raised rate rows (ofat.rate_row)."""
    turns, tokens = _effect(original, raised.get("turns", [])), _effect(original, raised.get("tokens", []))
    if turns == "fixes" and tokens == "fixes":
        return "either"
    if turns == "fixes" and tokens == "no":
        return "turn"
    if tokens == "fixes" and turns == "no":
        return "token"
    if turns == "no" and tokens == "no":
        return "capability"
    return "undetermined"


def ceiling_rows(results: list[AttemptResult], source_results: list[AttemptResult],
                 variants: dict[str, dict[str, Any]], confidence: float = 0.95) -> list[dict[str, Any]]:
    """The JSON report's ``ceilings``: one row per source cell (model, variant, canary) with its
    ``original`` (n, c, outcomes), what each raised budget got (``raised``: budget, factor,
    variant, n, c, outcomes) and its ``ceiling`` class. ``variants``: this run's ceiling
    variants' tuning records by name."""
    here = group_by(results, "model", "variant", "canary")
    there = group_by(source_results, "model", "variant", "canary")
    cells: dict[tuple[str, str, str], dict[str, list[tuple[float, str]]]] = {}
    for name, record in variants.items():
        for model, canaries in record["cells"].items():
            for canary in canaries:
                key = (model, record["source_variant"], canary)
                cells.setdefault(key, {}).setdefault(record["budget"], []).append((record["factor"], name))
    rows = []
    for (model, source_variant, canary), by_budget in sorted(cells.items()):
        group = there.get((model, source_variant, canary))
        original = rate_row(group, confidence)
        raised_rows, raised_rates = [], {}
        for budget in RAISED:
            for factor, name in sorted(by_budget.get(budget, [])):
                cell_group = here.get((model, name, canary))
                cell = rate_row(cell_group, confidence)
                raised_rates.setdefault(budget, []).append(cell)
                raised_rows.append({"budget": budget, "factor": factor, "variant": name,
                                    "n": cell["n"], "c": cell["c"],
                                    "outcomes": dict(sorted(cell_group.outcomes.items())) if cell_group else {}})
        ceiling = classify(original, raised_rates)
        row = {"model": model, "variant": source_variant, "canary": canary,
               "original": {"n": original["n"], "c": original["c"],
                            "outcomes": dict(sorted(group.outcomes.items())) if group else {}},
               "raised": raised_rows, "ceiling": ceiling}
        if ceiling == "undetermined":
            row["repeats_needed"] = _needed(original, raised_rates, confidence)
        rows.append(row)
    return rows


def _needed(original: dict[str, Any], raised: dict[str, list[dict[str, Any]]],
            confidence: float) -> int | None:
    """Repeats that would settle the most promising unclear difference of an undetermined cell."""
    if original["pass_rate"] is None:
        return None
    best = max((cell["pass_rate"] for cells in raised.values() for cell in cells
                if cell["pass_rate"] is not None), default=None)
    return None if best is None else repeats_needed(original["pass_rate"], best, confidence)
