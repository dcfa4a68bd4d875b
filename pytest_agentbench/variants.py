"""Sweeps: ``--agentbench-sweep temperature=0,0.7`` runs every model once per setting (DESIGN §2:
a *variant* is one cell of a sweep; ``base`` when there is none).

Several ``--agentbench-sweep`` options make the cartesian product. A variant is a model's
registry settings with a few of them replaced, named after what it changes
(``temperature=0.7,seed=1``): that name is in test ids (``canary[qwen-temperature=0.7-r0]``),
the JSON report, the database and every summary row.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from pytest_agentbench.models import ModelSpec

BASE = "base"
# Sampling and agent settings of the registry that change how a model behaves in the loop
# (the second line: seed 004's agent knobs, models.ModelSpec).
SWEEPABLE = ("temperature", "top_p", "seed", "max_tokens", "tool_choice", "max_format_retries",
             "think", "think_level", "native_thinking", "require_code_change", "min_tool_calls",
             "max_batch_tool_calls", "confusion_retries", "time_budget")


class SweepError(ValueError):
    """A ``--agentbench-sweep`` value that cannot be used; the message names it."""


@dataclass(frozen=True)
class Variant:
    name: str = BASE
    overrides: dict[str, Any] = field(default_factory=dict)

    def apply(self, model: ModelSpec) -> ModelSpec:
        """The model with this variant's settings (the model itself for ``base``)."""
        if not self.overrides:
            return model
        spec = ModelSpec.model_validate({**model.model_dump(), **self.overrides})
        spec.variant = self.name
        return spec


def parse_sweeps(texts: list[str]) -> list[Variant]:
    """``["temperature=0,0.7", "seed=1,2"]`` → 4 variants; ``[]`` → ``[base]``."""
    axes: list[tuple[str, list[Any]]] = []
    for text in texts:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or key not in SWEEPABLE:
            raise SweepError(f"--agentbench-sweep: {text!r}: expected KEY=V1,V2,... with KEY one of "
                             f"{', '.join(SWEEPABLE)}")
        if any(key == seen for seen, _ in axes):
            raise SweepError(f"--agentbench-sweep: {key} is swept twice")
        values = [value.strip() for value in raw.split(",") if value.strip()]
        if not values or len(set(values)) != len(values):
            raise SweepError(f"--agentbench-sweep: {text!r}: give distinct values, e.g. {key}=A,B")
        axes.append((key, [_validated(key, value) for value in values]))
    if not axes:
        return [Variant()]
    variants = []
    for combination in itertools.product(*(values for _, values in axes)):
        pairs = [(key, value) for (key, _), value in zip(axes, combination)]
        name = ",".join(f"{key}={raw}" for key, raw in pairs)
        variants.append(Variant(name, {key: raw for key, raw in pairs}))
    return variants


def _validated(key: str, raw: str) -> str:
    """Check the value against the registry's own field type now, not at the first attempt."""
    try:
        ModelSpec.model_validate({key: raw})
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise SweepError(f"--agentbench-sweep: {key}={raw}: {message}") from None
    return raw
