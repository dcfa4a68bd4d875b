"""Which limit a budget failure needs raised: turn ceiling, token ceiling, output cap, time, or a
capability ceiling that more budget does not move.

``--agentbench-ceilings RUN_ID|last`` reads a run from the database and, for every model ×
variant × canary of it with a ``budget_turns``, ``budget_tokens`` or ``budget_time`` outcome,
runs that cell again with each limit its attempts hit raised — by each factor of
``--agentbench-ceiling-factors`` (default 2,4: a multiple of what the cell had):

- a turn or token budget: the turn budget alone, the token budget alone, and both together;
- the output cap (``limit_hit = output_cap``): ``max_tokens`` (and the token budget, as above);
- the time budget: the attempt's seconds.

Each cell is then classified from the Newcombe interval of "raised minus original" (ofat.py's
comparison, on distinct samples): a raise *fixes* the cell when some factor's difference excludes
0 upwards; it *does not* when at the largest factor the raised pass rate is no higher than the
original; otherwise the evidence at this N cannot tell. Classes (the JSON ``ceilings[].ceiling``):

``turn`` (turns fix it, tokens do not), ``token`` (the reverse), ``either`` (each alone fixes it),
``both`` (only raising turns and tokens together fixes it), ``output_cap`` (the per-response cap),
``time`` (the seconds), ``capability`` (no raise moves it at the largest factor, and every limit
its attempts hit was raised: more budget is wasted), ``undetermined`` (anything else: a limit that
could not be raised, such as the context window, is never called capability). An undetermined
cell says how many repeats would tell (``repeats_needed``: the smallest N per side at which the
same pass rates would be evidence) — or, when its repeats were identical (temperature 0), that
more repeats will not help (``note``).
"""

from __future__ import annotations

from typing import Any

from pytest_agentbench.attempt.outcome import Outcome
from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.records.stats import newcombe_interval
from pytest_agentbench.report.summary import group_by
from pytest_agentbench.run.variants import BASE, Variant
from pytest_agentbench.schemas.factors import budget_factors
from pytest_agentbench.schemas.models import ModelSpec
from pytest_agentbench.schemas.results import AttemptResult
from pytest_agentbench.tuning.ofat import compare_with, rate_row
from pytest_agentbench.tuning.source import SourceError, SourceRun

KEY = "ceiling"  # a variant's tuning record
# What each raise changes, in the order the table shows them.
RAISES: dict[str, tuple[str, ...]] = {"turns": ("turns",), "tokens": ("tokens",),
                                      "both": ("turns", "tokens"), "max_tokens": ("max_tokens",),
                                      "seconds": ("seconds",)}
RAISED = tuple(RAISES)
# Which raises answer which limit an attempt hit (its limit_hit); a limit missing here (the
# context window, the request timeout) cannot be raised by a variant.
LIMIT_RAISES = {"turn_budget": ("turns", "tokens", "both"), "token_budget": ("turns", "tokens", "both"),
                "output_cap": ("max_tokens", "tokens"), "time_budget": ("seconds",)}
CEILING_OUTCOMES = (Outcome.BUDGET_TURNS.value, Outcome.BUDGET_TOKENS.value, Outcome.BUDGET_TIME.value)
CLASSES = ("turn", "token", "either", "both", "output_cap", "time", "capability", "undetermined")
IDENTICAL_NOTE = ("the repeats were identical (temperature 0): more repeats will not help; raise "
                  "the temperature for independent samples")
MAX_REPEATS = 100  # repeats_needed looks this far; beyond it the difference is too small to chase


class FactorError(AgentbenchError, ValueError):
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


def budget_cells(source: SourceRun) -> dict[str, dict[str, dict[str, set[str]]]]:
    """{source variant: {model: {canary: the limits its attempts hit}}} of the budget cells."""
    cells: dict[str, dict[str, dict[str, set[str]]]] = {}
    for (model, variant, canary), group in group_by(source.attempts, "model", "variant", "canary").items():
        hit = [r for r in group.results if r.outcome in CEILING_OUTCOMES]
        if hit:
            limits = {r.limit_hit or _limit_of(r.outcome) for r in hit}
            cells.setdefault(variant, {}).setdefault(model, {})[canary] = limits
    return cells


def _limit_of(outcome: str) -> str:
    # Older records have no limit_hit: the outcome names the budget.
    return {Outcome.BUDGET_TURNS.value: "turn_budget", Outcome.BUDGET_TOKENS.value: "token_budget",
            Outcome.BUDGET_TIME.value: "time_budget"}[outcome]


def raises_for(limits: set[str]) -> set[str]:
    return {raise_ for limit in limits for raise_ in LIMIT_RAISES.get(limit, ())}


def _raised(value: Any, factor: float) -> str | int:
    """A budget the source variant set itself, raised by ``factor`` (a multiple stays one)."""
    if isinstance(value, str) and value.startswith("x"):
        return f"x{float(value[1:]) * factor:g}"
    return round(float(value) * factor)


def ceiling_variants(source: SourceRun, models: list[ModelSpec], factors: list[float],
                     directives: dict[str, str]) -> list[Variant]:
    """Per source variant with budget cells, one variant per raise × factor (``turns=x2``,
    ``turns=x2,tokens=x2``, ``max_tokens=x4``, ``temperature=0,seconds=x2``): the source variant's
    settings with those limits raised (a budget the model or the variant set itself is raised
    from there, else the canary's; the output cap from the model's ``max_tokens``). Each variant
    runs only the cells whose limits call for it."""
    cells = budget_cells(source)
    if not cells:
        raise SourceError(f"--agentbench-ceilings: run {source.run_id} has no budget_turns, "
                          "budget_tokens or budget_time outcome: no ceiling to tell apart")
    per_model_source = _per_model_settings(source)
    specs = {m.name: m for m in models}
    variants = []
    for source_variant, by_model in sorted(cells.items()):
        overrides = dict(source.variants.get(source_variant, {}))
        for raise_, keys in RAISES.items():
            wanted = {model: sorted(c for c, limits in canaries.items() if raise_ in raises_for(limits))
                      for model, canaries in by_model.items() if model in specs}
            wanted = {model: canaries for model, canaries in wanted.items() if canaries}
            if not wanted:
                continue
            for factor in factors:
                label = ",".join(f"{key}=x{factor:g}" for key in keys)
                name = label if source_variant == BASE else f"{source_variant},{label}"
                per_model = {}
                for model in wanted:
                    spec = specs[model]
                    own = {**budget_factors(spec), "max_tokens": spec.max_tokens, **overrides,
                           **per_model_source.get(source_variant, {}).get(model, {})}
                    per_model[model] = {**own, **{key: _raised(own[key], factor) if key in own
                                                  else f"x{factor:g}" for key in keys}}
                variants.append(Variant(name, per_model=per_model, directives=directives, tuning={KEY: {
                    "source_run": source.run_id, "source_variant": source_variant,
                    "budget": raise_, "factor": factor, "cells": wanted}}))
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


def classify(original: dict[str, Any], raised: dict[str, list[dict[str, Any]]],
             limits: set[str] | None = None) -> str:
    """The ceiling class of one cell from its original and raised rate rows (ofat.rate_row);
    ``limits``: what its attempts hit (a limit no raise answers rules out ``capability``)."""
    effects = {raise_: _effect(original, cells) for raise_, cells in raised.items()}
    turns, tokens = effects.get("turns"), effects.get("tokens")
    if turns == "fixes" and tokens == "fixes":
        return "either"
    if turns == "fixes" and tokens == "no":
        return "turn"
    if tokens == "fixes" and turns == "no":
        return "token"
    if effects.get("max_tokens") == "fixes":
        return "output_cap"
    if effects.get("seconds") == "fixes":
        return "time"
    if effects.get("both") == "fixes" and turns == "no" and tokens == "no":
        return "both"
    unraised = {limit for limit in (limits or set()) if not LIMIT_RAISES.get(limit)}
    if effects and all(effect == "no" for effect in effects.values()) and not unraised:
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
        limits = ({r.limit_hit or _limit_of(r.outcome) for r in group.results
                   if r.outcome in CEILING_OUTCOMES} if group else set())
        ceiling = classify(original, raised_rates, limits)
        row = {"model": model, "variant": source_variant, "canary": canary,
               "original": {"n": original["n"], "c": original["c"],
                            "outcomes": dict(sorted(group.outcomes.items())) if group else {},
                            "limits": sorted(limits)},
               "raised": raised_rows, "ceiling": ceiling}
        if ceiling == "undetermined":
            if group is not None and group.n > 1 and group.distinct == 1:
                row["repeats_needed"] = None
                row["note"] = IDENTICAL_NOTE
            else:
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
