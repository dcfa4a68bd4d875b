"""Sweeps: ``--agentbench-sweep temperature=0,0.7`` runs every model once per setting (a *variant* is one cell of a sweep; ``base`` when there is none).

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

from pytest_agentbench.agent.loop import SYSTEM_PROMPT
from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.schemas.factors import (
    NO_DIRECTIVE,
    DirectiveError,
    check_directive,
    system_prompt_with,
)
from pytest_agentbench.schemas.models import ModelSpec

BASE = "base"
# Sampling and agent settings of the registry that change how a model behaves in the loop
# (the second line: the agent knobs, models.ModelSpec; the third: the budgets and
# prompt directive, schemas/factors.py).
SWEEPABLE = ("temperature", "top_p", "seed", "max_tokens", "tool_choice", "max_format_retries",
             "think", "think_level", "native_thinking", "require_code_change", "min_tool_calls",
             "max_batch_tool_calls", "confusion_retries", "time_budget",
             "auto_tool_call_on_failure", "cache", "echo",
             "turns", "tokens", "seconds", "directive")


# What a variant may change for an external agent: the sampling fields the recording proxy sets
# on each of its requests, and the budgets the proxy and the deadline enforce. Everything else
# (knobs, the system prompt, tool choice, thinking) is decided by the agent's own program.
EXTERNAL_AGENT_KEYS = ("temperature", "top_p", "seed", "max_tokens", "turns", "tokens", "seconds")
PROXY_SAMPLING_KEYS = ("temperature", "top_p", "seed", "max_tokens")


def external_agent_problem(variants: list[Variant], models: list[ModelSpec],
                           agents: list[str]) -> str | None:
    """Why these variants cannot run under these agents, or None: a variant that changes what
    an external agent's program decides would be a cell that measures nothing."""
    external = [agent for agent in agents if agent != "builtin"]
    if not external:
        return None
    for variant in variants:
        for model in models:
            refused = sorted(set(variant.settings_for(model.name)) - set(EXTERNAL_AGENT_KEYS))
            if refused:
                return (f"--agentbench-agent {external[0]}: the variant {variant.name!r} of "
                        f"{model.name} sets {', '.join(refused)}, which an external agent's own "
                        f"program decides; only {', '.join(EXTERNAL_AGENT_KEYS)} reach it (the "
                        "recording proxy sets the sampling fields on each request). Run that "
                        "sweep with --agentbench-agent builtin.")
    return None


class SweepError(AgentbenchError, ValueError):
    """A ``--agentbench-sweep`` value that cannot be used; the message names it."""


@dataclass(frozen=True)
class ModelChoice:
    """Models a feature chose for the run in place of ``--models`` (the
    ``pytest_agentbench_select_models`` hook), and the option that asked for them."""

    option: str
    models: list[ModelSpec]


@dataclass(frozen=True)
class VariantChoice:
    """Variants a feature made for the run in place of ``--agentbench-sweep``'s (the
    ``pytest_agentbench_variants`` hook), and the option that asked for them."""

    option: str
    variants: list[Variant]


@dataclass(frozen=True)
class Variant:
    name: str = BASE
    overrides: dict[str, Any] = field(default_factory=dict)
    # Settings of one model only (the all-on cell combines each model's own winners).
    per_model: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The declared directives' texts ([tool.agentbench.directives]): a ``directive`` setting
    # becomes system-prompt text here, where each attempt's model is made.
    directives: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    # What a tuning run made this variant for (tuning/): {"ofat": {"factor", "value"}},
    # {"all_on": ...}, {"ceiling": ...}; recorded in the run's settings, so a later run (the
    # all-on cell, the ceilings) can read the source run's cells from the database.
    tuning: dict[str, Any] = field(default_factory=dict, compare=False)

    def settings_for(self, model_name: str) -> dict[str, Any]:
        return {**self.overrides, **self.per_model.get(model_name, {})}

    def apply(self, model: ModelSpec) -> ModelSpec:
        """The registry's model with this variant's settings (the model itself for ``base``
        when it has no directive to add to its system prompt)."""
        overrides = self.settings_for(model.name)
        directive = overrides.get("directive", model.directive)
        if not overrides and self.name == BASE and directive in (None, NO_DIRECTIVE):
            return model
        spec = ModelSpec.model_validate({**model.model_dump(), **overrides})
        spec.variant = self.name
        spec.variant_settings = dict(overrides)
        if directive not in (None, NO_DIRECTIVE):
            spec.system_prompt = system_prompt_with(model.system_prompt or SYSTEM_PROMPT, directive,
                                                    self.directives)
        return spec


def parse_axes(texts: list[str], option: str = "--agentbench-sweep",
               directives: dict[str, str] | None = None) -> list[tuple[str, list[str]]]:
    """``["temperature=0,0.7"]`` → ``[("temperature", ["0", "0.7"])]``, every value checked
    against the registry field's type (and ``directive`` against the declared directives) now,
    not at the first attempt. ``option`` names the option in errors."""
    axes: list[tuple[str, list[str]]] = []
    for text in texts:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or key not in SWEEPABLE:
            raise SweepError(f"{option}: {text!r}: expected KEY=V1,V2,... with KEY one of "
                             f"{', '.join(SWEEPABLE)}")
        if any(key == seen for seen, _ in axes):
            raise SweepError(f"{option}: {key} is swept twice")
        values = [value.strip() for value in raw.split(",") if value.strip()]
        if not values or len(set(values)) != len(values):
            raise SweepError(f"{option}: {text!r}: give distinct values, e.g. {key}=A,B")
        axes.append((key, [_validated(key, value, option, directives or {}) for value in values]))
    return axes


def parse_sweeps(texts: list[str], directives: dict[str, str] | None = None) -> list[Variant]:
    """``["temperature=0,0.7", "seed=1,2"]`` → 4 variants; ``[]`` → ``[base]``."""
    axes = parse_axes(texts, "--agentbench-sweep", directives)
    if not axes:
        return [Variant(directives=dict(directives or {}))]
    variants = []
    for combination in itertools.product(*(values for _, values in axes)):
        pairs = [(key, value) for (key, _), value in zip(axes, combination)]
        name = ",".join(f"{key}={raw}" for key, raw in pairs)
        variants.append(Variant(name, {key: raw for key, raw in pairs}, directives=dict(directives or {})))
    return variants


def _validated(key: str, raw: str, option: str, directives: dict[str, str]) -> str:
    """Check the value against the registry's own field type now, not at the first attempt."""
    try:
        ModelSpec.model_validate({key: raw})
        if key == "directive":
            check_directive(raw, directives, f"{option} directive={raw}")
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise SweepError(f"{option}: {key}={raw}: {message}") from None
    except DirectiveError as exc:
        raise SweepError(str(exc)) from None
    return raw
