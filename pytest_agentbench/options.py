"""Command-line options and their ini twins, turned into :class:`Settings`.

Every ``--agentbench-*`` option has an ``agentbench_*`` ini twin; the command line wins. Bad
values raise ``pytest.UsageError`` naming the option.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pytest_agentbench.canary import TIERS
from pytest_agentbench.gates import GateError, parse_gate
from pytest_agentbench.limits import SandboxLimits
from pytest_agentbench.models import (
    EMBEDDED,
    ModelConfigError,
    load_registry,
    resolve_models,
    split_model_args,
)
from pytest_agentbench.sandbox import bubblewrap_problem
from pytest_agentbench.session import Settings
from pytest_agentbench.variants import SweepError, Variant, parse_sweeps

DEFAULT_BASE_URL = "http://127.0.0.1:11434/v1"  # Ollama's OpenAI-compatible endpoint

# option name → (ini name, help, kind) for the --agentbench-* options with an ini twin
_INI_OPTIONS: dict[str, tuple[str, str]] = {
    "base_url": ("string", "default endpoint for unregistered models (env AGENTBENCH_BASE_URL)"),
    "json": ("string", "write the JSON report (schema_version 1) to this path"),
    "html": ("string", "write a self-contained HTML report to this path"),
    "keep_worktrees": ("bool", "keep each attempt's git worktree for inspection"),
    "max_turns": ("string", "override every canary's turn budget"),
    "max_tokens": ("string", "override every canary's token budget (prompt + completion, summed)"),
    "max_seconds": ("string", "override every canary's wall-time budget"),
    "max_output_tokens": ("string", "per-response output cap sent as max_tokens (default 2048)"),
    "max_malformed": ("string", "malformed tool calls in a row that end an attempt (default 3)"),
    "dir": ("string", "where transcripts go (default .agentbench under the rootdir)"),
    "k": ("string", "k values for pass@k and pass^k, comma list (default: 1 and --repeats)"),
    "gate": ("string", ("what --agentbench-fail-under compares: point (the pass rate, default) or "
                       "lower (the Wilson interval's lower bound)")),
    "max_infra_rate": ("string", ("every gate fails when more than this fraction (0-1, default 0) of the "
                                 "attempts in its scope are infra_error or missing")),
    "group_by_model": ("bool", "with xdist, keep each model's attempts on one worker"),
    "db": ("string", "results database (default .agentbench/results.sqlite under the rootdir)"),
    "resume": ("string", "RUN_ID or 'last': run only the attempts that run is missing, report the union"),
    "baseline": ("string", "RUN_ID, 'last' or a JSON report to compare this run with"),
    "sandbox": ("string", ("where shell and check commands run: auto (bubblewrap when it works, "
                          "default), bubblewrap (required), none (no OS sandbox; alias: process)")),
    "sandbox_limits": ("string", "per-command limits, e.g. memory=4G,processes=512,file_size=256M,"
                                 "tmp_size=1G,growth=2G ('off' lifts one; defaults: " + SandboxLimits().spec() + ")"),
    "fail_on_regression": ("bool", ("exit non-zero when a model x canary regressed against the baseline "
                                   "beyond noise (Newcombe's interval of the difference excludes 0)")),
    "confidence": ("string", "confidence of the Wilson intervals (default 0.95)"),
    "retries_with_feedback": ("string", ("extra tries after failed checks, the failing output fed back "
                                        "(0-3, default 0; a canary's own retries_with_feedback wins)")),
    "workdir": ("string", "where worktrees go (default: the system temp dir)"),
    "request_timeout": ("string", "seconds one model request may take (default 300)"),
    "retries": ("string", "retries of a failed model request before infra_error (default 3)"),
    "retry_backoff": ("string", "first retry pause in seconds, doubled each retry (default 0.5)"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agentbench", "benchmark local LLMs in a coding-agent loop")
    group.addoption("--models", action="append", default=None, metavar="NAME[@URL],...",
                    help="models to benchmark (comma list, repeatable); NAME@URL gives the endpoint")
    group.addoption("--tier", action="append", default=None, metavar="TIER",
                    help="run only canaries of these tiers: lite, medium, heavy (comma list, repeatable)")
    group.addoption("--repeats", default=None, metavar="N",
                    help="attempts per canary and model (default 3)")
    parser.addini("agentbench_models", "models to benchmark (comma list)", default="")
    parser.addini("agentbench_tier", "tiers to run (comma list)", default="")
    parser.addini("agentbench_repeats", "attempts per canary and model", default="3")
    group.addoption("--agentbench-fail-under", action="append", default=None, metavar="[SCOPE:]RATE",
                    dest="agentbench_fail_under",
                    help="exit non-zero unless the pass rate (overall, of a tier, or of a model) "
                         "reaches RATE; repeatable")
    parser.addini("agentbench_fail_under", "gates, e.g. 0.8 heavy:0.6", type="args", default=[])
    group.addoption("--agentbench-sweep", action="append", default=None, metavar="KEY=V1,V2",
                    dest="agentbench_sweep",
                    help="run every model once per value (a variant): temperature, top_p, seed, "
                         "max_tokens, tool_choice or max_format_retries; repeat for a cartesian product")
    parser.addini("agentbench_sweep", "sweeps, e.g. temperature=0,0.7 seed=1,2", type="args", default=[])
    for name, (kind, help_text) in _INI_OPTIONS.items():
        flag = "--agentbench-" + name.replace("_", "-")
        if kind == "bool":
            group.addoption(flag, action="store_true", default=None, dest=f"agentbench_{name}", help=help_text)
            parser.addini(f"agentbench_{name}", help_text, type="bool", default=False)
        else:
            group.addoption(flag, default=None, dest=f"agentbench_{name}", help=help_text)
            parser.addini(f"agentbench_{name}", help_text, default="")


def _value(config: pytest.Config, name: str) -> Any:
    """Command line first, then the ini twin; empty ini values count as unset."""
    value = config.getoption(f"agentbench_{name}")
    if value is None:
        value = config.getini(f"agentbench_{name}")
    return value if value not in ("", None) else None


def _number(config: pytest.Config, name: str, kind: type, minimum: float, default: Any = None) -> Any:
    raw = _value(config, name)
    if raw is None:
        return default
    try:
        number = kind(raw)
    except ValueError:
        raise pytest.UsageError(f"--agentbench-{name.replace('_', '-')}: {raw!r} is not a number") from None
    if number < minimum:
        raise pytest.UsageError(f"--agentbench-{name.replace('_', '-')}: must be at least {minimum}")
    return number


def settings_from(config: pytest.Config) -> Settings:
    model_names = split_model_args(config.getoption("models") or [config.getini("agentbench_models")])
    explicit = bool(model_names)
    base_url = _value(config, "base_url") or os.environ.get("AGENTBENCH_BASE_URL") or DEFAULT_BASE_URL
    try:
        models = resolve_models(model_names or [EMBEDDED], base_url, load_registry(config.rootpath))
    except ModelConfigError as exc:
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
    ks = _ks(_value(config, "k"), repeats)
    confidence = _number(config, "confidence", float, 0.5, default=0.95)
    if confidence >= 1:
        raise pytest.UsageError("--agentbench-confidence: must be below 1 (e.g. 0.95)")
    gate_mode = _value(config, "gate") or "point"
    if gate_mode not in ("point", "lower"):
        raise pytest.UsageError(f"--agentbench-gate: {gate_mode!r}: choose point or lower")
    try:
        gates = [parse_gate(text) for text in
                 config.getoption("agentbench_fail_under") or config.getini("agentbench_fail_under")]
    except GateError as exc:
        raise pytest.UsageError(str(exc)) from None
    sandbox, sandbox_limits = _sandbox(config)
    json_path = _value(config, "json")
    data_dir = Path(_value(config, "dir") or config.rootpath / ".agentbench")
    workdir = _value(config, "workdir")
    return Settings(
        models=models,
        models_explicit=explicit,
        ks=ks,
        confidence=confidence,
        gates=gates,
        gate_mode=gate_mode,
        group_by_model=bool(_value(config, "group_by_model")),
        db_path=Path(_value(config, "db") or data_dir / "results.sqlite").resolve(),
        resume=_value(config, "resume"),
        baseline=_value(config, "baseline"),
        fail_on_regression=bool(_value(config, "fail_on_regression")),
        sandbox=sandbox,
        sandbox_limits=sandbox_limits,
        repeats=repeats,
        tiers=tiers,
        turns=_number(config, "max_turns", int, 1),
        tokens=_number(config, "max_tokens", int, 1),
        seconds=_number(config, "max_seconds", float, 0.001),
        max_output_tokens=_number(config, "max_output_tokens", int, 1),
        max_malformed=_number(config, "max_malformed", int, 1, default=3),
        keep_worktrees=bool(_value(config, "keep_worktrees")),
        json_path=Path(json_path).resolve() if json_path else None,
        html_path=Path(html_path).resolve() if (html_path := _value(config, "html")) else None,
        data_dir=data_dir.resolve(),
        work_dir=Path(workdir).resolve() if workdir else None,
        request_timeout=_number(config, "request_timeout", float, 0.001, default=300.0),
        retries=_number(config, "retries", int, 0, default=3),
        backoff=_number(config, "retry_backoff", float, 0, default=0.5),
        retries_with_feedback=_retries_with_feedback(config),
        variants=_variants(config),
    )


def max_infra_rate_from(config: pytest.Config) -> float:
    """``--agentbench-max-infra-rate``: how much a gate may not have seen. Default 0: a gate
    vouches for a pass rate only when every attempt in its scope produced a scored outcome."""
    raw = _value(config, "max_infra_rate")
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


def _variants(config: pytest.Config) -> list[Variant]:
    texts = config.getoption("agentbench_sweep") or config.getini("agentbench_sweep")
    try:
        variants = parse_sweeps(list(texts))
    except SweepError as exc:
        raise pytest.UsageError(str(exc)) from None
    if _value(config, "max_output_tokens") and any("max_tokens" in v.overrides for v in variants):
        raise pytest.UsageError("--agentbench-sweep max_tokens=... and --agentbench-max-output-tokens "
                                "contradict each other: drop one")
    return variants


def _retries_with_feedback(config: pytest.Config) -> int:
    value = _number(config, "retries_with_feedback", int, 0, default=0)
    if value > 3:
        raise pytest.UsageError("--agentbench-retries-with-feedback: at most 3")
    return value


def _sandbox(config: pytest.Config) -> tuple[str, SandboxLimits]:
    sandbox = _value(config, "sandbox") or "auto"
    sandbox = {"process": "none"}.get(sandbox, sandbox)  # the tier's earlier name
    if sandbox not in ("auto", "bubblewrap", "none"):
        raise pytest.UsageError(f"--agentbench-sandbox: {sandbox!r}: choose auto, bubblewrap or none")
    if sandbox == "bubblewrap" and bubblewrap_problem():
        raise pytest.UsageError(f"--agentbench-sandbox bubblewrap: {bubblewrap_problem()}")
    try:
        limits = SandboxLimits.parse(_value(config, "sandbox_limits") or "")
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
