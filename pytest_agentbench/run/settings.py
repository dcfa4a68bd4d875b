"""The options' values (run/options.py) turned into :class:`~pytest_agentbench.run.session.Settings`.

Bad values raise ``pytest.UsageError`` naming the option. Imported when the session starts
(run/startup.py), not by the entry point: resolving models needs pydantic.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pytest_agentbench.agent.time_budget import MODES as TIME_BUDGET_MODES
from pytest_agentbench.run.gates import GateError, parse_gate
from pytest_agentbench.run.options import DEFAULT_BASE_URL, option_value, typed_option
from pytest_agentbench.run.session import Settings
from pytest_agentbench.run.variants import (
    ModelChoice,
    SweepError,
    Variant,
    VariantChoice,
    external_agent_problem,
    parse_sweeps,
)
from pytest_agentbench.sandbox.commands import bubblewrap_problem
from pytest_agentbench.sandbox.limits import SandboxLimits
from pytest_agentbench.schemas.canary import TIERS
from pytest_agentbench.schemas.factors import DirectiveError, check_model_factors, load_directives
from pytest_agentbench.schemas.models import (
    EMBEDDED,
    ModelConfigError,
    ModelSpec,
    load_registry,
    resolve_models,
    split_model_args,
)


def settings_from(config: pytest.Config) -> Settings:
    model_names = split_model_args(config.getoption("models") or [config.getini("agentbench_models")])
    explicit = bool(model_names)
    base_url = option_value(config, "base_url") or os.environ.get("AGENTBENCH_BASE_URL") or DEFAULT_BASE_URL
    data_dir = results_dir(config)
    db_path = results_db_path(config)
    try:
        registry = load_registry(config.rootpath)
        directives = load_directives(config.rootpath)
        # A feature may choose the models instead (a role, an earlier run's models): at most one.
        choices: list[ModelChoice] = config.hook.pytest_agentbench_select_models(
            config=config, registry=registry, base_url=base_url, model_names=model_names)
        if len(choices) > 1:
            raise pytest.UsageError(f"{choices[-1].option} and {choices[0].option} cannot be "
                                    "combined: each chooses the models a run benchmarks")
        if choices:
            models, explicit = choices[0].models, True
        else:
            models = resolve_models(model_names or [EMBEDDED], base_url, registry)
        check_model_factors(models, directives)
    except (ModelConfigError, DirectiveError) as exc:
        raise pytest.UsageError(str(exc)) from None
    tiers = split_model_args(config.getoption("tier") or [config.getini("agentbench_tier")])
    unknown = [t for t in tiers if t not in TIERS]
    if unknown:
        raise pytest.UsageError(f"--tier: unknown tier(s) {unknown}; choose from {', '.join(TIERS)}")
    repeats_raw = config.getoption("repeats") or config.getini("agentbench_repeats")
    try:
        repeats = int(repeats_raw)
    except ValueError:
        raise pytest.UsageError(f"--repeats: {repeats_raw!r} is not a whole number") from None
    if repeats < 1:
        raise pytest.UsageError("--repeats: must be at least 1")
    ks = _ks(option_value(config, "k"), repeats)
    confidence = typed_option(config, "confidence", 0.95)
    if confidence >= 1:
        raise pytest.UsageError("--agentbench-confidence: must be below 1 (e.g. 0.95)")
    gate_mode = typed_option(config, "gate", "point")
    try:
        gates = [parse_gate(text) for text in
                 config.getoption("agentbench_fail_under") or config.getini("agentbench_fail_under")]
    except GateError as exc:
        raise pytest.UsageError(str(exc)) from None
    sandbox, sandbox_limits = _sandbox(config)
    json_path = option_value(config, "json")
    workdir = option_value(config, "workdir")
    settings = Settings(
        models=models,
        models_explicit=explicit,
        ks=ks,
        confidence=confidence,
        gates=gates,
        max_cheat_rate=_fraction(config, "max_cheat_rate"),
        gate_mode=gate_mode,
        group_by_model=bool(option_value(config, "group_by_model")),
        workers=_workers(config),
        db_path=db_path,
        resume=option_value(config, "resume"),
        baseline=option_value(config, "baseline"),
        fail_on_regression=bool(option_value(config, "fail_on_regression")),
        sandbox=sandbox,
        sandbox_limits=sandbox_limits,
        repeats=repeats,
        tiers=tiers,
        turns=typed_option(config, "max_turns"),
        tokens=typed_option(config, "max_tokens"),
        seconds=typed_option(config, "max_seconds"),
        max_output_tokens=typed_option(config, "max_output_tokens"),
        max_malformed=typed_option(config, "max_malformed", 3),
        keep_worktrees=bool(option_value(config, "keep_worktrees")),
        json_path=Path(json_path).resolve() if json_path else None,
        html_path=Path(html_path).resolve() if (html_path := option_value(config, "html")) else None,
        data_dir=data_dir.resolve(),
        work_dir=Path(workdir).resolve() if workdir else None,
        request_timeout=typed_option(config, "request_timeout", 300.0),
        retries=typed_option(config, "retries", 3),
        backoff=typed_option(config, "retry_backoff", 0.5),
        retries_with_feedback=_retries_with_feedback(config),
        variants=(variants := _variants(config, models, directives, confidence)),
        time_budget=_time_budget(config),
        **(agents := _agents(config)),
    )
    problem = external_agent_problem(variants, models, agents["agents"])
    if problem:
        raise pytest.UsageError(problem)
    return settings


def _agents(config: pytest.Config) -> dict[str, Any]:
    """``--agentbench-agent`` (ini ``agentbench_agent``): the agents and their registry entries."""
    from pytest_agentbench.schemas.agents import AgentConfigError, load_agents, resolve_agents

    names = split_model_args(config.getoption("agentbench_agent") or [config.getini("agentbench_agent")])
    try:
        registry = load_agents(config.rootpath)
        agents = resolve_agents(names, registry)
    except AgentConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    return {"agents": agents, "agent_specs": {name: registry[name] for name in agents if name in registry}}


def results_dir(config: pytest.Config) -> Path:
    """Where a run keeps its database and transcripts (``--agentbench-dir``)."""
    return Path(option_value(config, "dir") or config.rootpath / ".agentbench")


def results_db_path(config: pytest.Config) -> Path:
    """The results database (``--agentbench-db``, else ``results.sqlite`` in the results dir)."""
    return Path(option_value(config, "db") or results_dir(config) / "results.sqlite").resolve()


def max_infra_rate_from(config: pytest.Config) -> float:
    """``--agentbench-max-infra-rate``: how much a gate may not have seen. Default 0: a gate
    vouches for a pass rate only when every attempt in its scope produced a scored outcome."""
    raw = option_value(config, "max_infra_rate")
    if raw is None:
        return 0.0
    try:
        rate = float(raw)
    except ValueError:
        rate = float("nan")
    if not 0 <= rate <= 1:  # also NaN and inf
        raise pytest.UsageError(
            f"--agentbench-max-infra-rate: {raw!r}: expected a fraction between 0 and 1 (e.g. 0.1: "
            "a gate tolerates up to 10 % of its attempts being infra_error or missing)")
    return rate


def _fraction(config: pytest.Config, name: str) -> float | None:
    raw = option_value(config, name)
    if raw is None:
        return None
    try:
        rate = float(raw)
    except ValueError:
        rate = float("nan")
    if not 0 <= rate <= 1:  # also NaN and inf
        raise pytest.UsageError(f"--agentbench-{name.replace('_', '-')}: {raw!r}: expected a fraction "
                                "between 0 and 1 (e.g. 0.1)")
    return rate


def _variants(config: pytest.Config, models: list[ModelSpec], directives: dict[str, str],
              confidence: float) -> list[Variant]:
    # A feature may make the variants instead (an OFAT run, an all-on cell, raised budgets).
    choice: VariantChoice | None = config.hook.pytest_agentbench_variants(
        config=config, models=models, directives=directives, confidence=confidence)
    option = choice.option if choice is not None else "--agentbench-sweep"
    if choice is not None:
        variants = choice.variants
    else:
        try:
            variants = parse_sweeps(list(config.getoption("agentbench_sweep")
                                         or config.getini("agentbench_sweep")), directives)
        except SweepError as exc:
            raise pytest.UsageError(str(exc)) from None
    for model in models:  # a value can clash with a model's own settings (think_level vs think)
        for variant in variants:
            try:
                variant.apply(model)
            except ValidationError as exc:
                message = exc.errors()[0]["msg"].removeprefix("Value error, ")
                raise pytest.UsageError(f"{option} {variant.name} for model "
                                        f"{model.name!r}: {message}") from None
    # A command-line budget overrides every canary's and every variant's: with a varied one it
    # would silently make the variants equal.
    for key, cli in (("max_tokens", "max_output_tokens"), ("turns", "max_turns"),
                     ("tokens", "max_tokens"), ("seconds", "max_seconds")):
        if option_value(config, cli) and any(key in v.settings_for(m.name) for v in variants for m in models):
            raise pytest.UsageError(f"{option} {key}=... and --agentbench-{cli.replace('_', '-')} "
                                    "contradict each other: drop one")
    return variants


def _workers(config: pytest.Config) -> int:
    """How many processes run attempts at once: xdist's workers (each worker is told the count),
    else this process alone."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return max(1, int(workerinput.get("workercount", 1)))
    count = getattr(config.option, "numprocesses", None)  # an int by configure (xdist resolves auto)
    return count if isinstance(count, int) and count > 0 else 1


def _time_budget(config: pytest.Config) -> str:
    mode = typed_option(config, "time_budget", "fixed")
    assert mode in TIME_BUDGET_MODES  # the option's declared choices (run/options.py)
    return mode


def _retries_with_feedback(config: pytest.Config) -> int:
    value = typed_option(config, "retries_with_feedback", 0)
    if value > 3:
        raise pytest.UsageError("--agentbench-retries-with-feedback: at most 3")
    return value


def _sandbox(config: pytest.Config) -> tuple[str, SandboxLimits]:
    sandbox = typed_option(config, "sandbox", "auto")  # "process", the none tier's earlier name, too
    if sandbox == "bubblewrap" and bubblewrap_problem():
        raise pytest.UsageError(f"--agentbench-sandbox bubblewrap: {bubblewrap_problem()}")
    try:
        limits = SandboxLimits.parse(option_value(config, "sandbox_limits") or "")
    except ValueError as exc:
        raise pytest.UsageError(f"--agentbench-sandbox-limits: {exc}") from None
    return sandbox, limits


def _ks(raw: str | None, repeats: int) -> list[int]:
    if raw is None:
        return sorted({1, repeats})
    try:
        ks = sorted({int(part) for part in str(raw).split(",") if part.strip()})
    except ValueError:
        raise pytest.UsageError(f"--agentbench-k: {raw!r} is not a comma list of whole numbers") from None
    if not ks or ks[0] < 1 or ks[-1] > repeats:
        raise pytest.UsageError(f"--agentbench-k: each k must be between 1 and --repeats ({repeats})")
    return ks
