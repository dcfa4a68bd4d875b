"""The JSON report (``schema_version = 1``)."""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

from pytest_agentbench import __version__
from pytest_agentbench.agent.encoding import json_text
from pytest_agentbench.agent.time_budget import (
    MAX_SCALE,
    REFERENCE_TOKENS_PER_SECOND,
)
from pytest_agentbench.report.fairness import fairness_warnings
from pytest_agentbench.report.summary import aggregate_rows, canary_rows, identical_repeats
from pytest_agentbench.run.session import AgentbenchSession, Settings
from pytest_agentbench.schemas.results import AttemptResult

SCHEMA_VERSION = 1


def environment() -> dict:
    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "plugin_version": __version__}


def run_settings(settings: Settings) -> dict:
    """The settings a report (or a re-render from the database) needs to read its numbers."""
    return {"repeats": settings.repeats, "tiers": settings.tiers, "ks": settings.ks,
            "confidence": settings.confidence,
            "variants": {v.name: v.overrides for v in settings.variants},
            # What a tuning run made each variant for (tuning/): how a later run finds its cells.
            "tuning": {v.name: v.tuning for v in settings.variants if v.tuning},
            # How each model ran in the loop (a variant's overrides are under "variants").
            "agent": {m.name: m.agent_settings(settings.time_budget) for m in settings.models},
            "time_budget": {"default": settings.time_budget,
                            "reference_tokens_per_second": REFERENCE_TOKENS_PER_SECOND,
                            "max_scale": MAX_SCALE},
            "request_timeout": settings.request_timeout,
            "max_output_tokens": settings.max_output_tokens,
            # the agents and their registry entries (absent when only the builtin ran).
            **({"agents": {name: (spec.model_dump(mode="json") if (spec := settings.agent_specs.get(name))
                                  else "builtin") for name in settings.agents}}
               if settings.agents != ["builtin"] else {})}


def assemble_report(*, run_id: str, started: str, finished: str | None, interrupted: bool,
                    environment: dict, settings: dict, models: dict, results: list[AttemptResult],
                    gates: list[dict] | None = None, missing: list[str] | None = None,
                    resume: dict | None = None) -> dict:
    """The report from its parts: a live session and the results database both build it here.
    ``missing``: collected attempts without a result (None: what the run's settings recorded)."""
    if missing is None:
        missing = list(settings.get("missing") or [])
    results = sorted(results, key=lambda r: (r.canary, r.model, r.cell_variant, r.repeat))
    confidence = float(settings.get("confidence") or 0.95)
    ks = settings.get("ks") or [1]
    report = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "started": started,
        "finished": finished,
        "interrupted": interrupted,
        # A collected attempt without a result: the numbers below cover less than was asked for.
        "incomplete": bool(missing),
        "missing": missing,
        "environment": environment,
        "settings": settings,
        "models": models,
        "attempts": [result.model_dump(mode="json") for result in results],
        "summary": canary_rows(results, confidence),
        "aggregates": aggregate_rows(results, ks, confidence),
        # One model cut by a cap or a timeout the others were not (report/fairness.py).
        "fairness": fairness_warnings(results),
        # Models whose repeats of a canary were identical: the intervals count them once.
        "identical_repeats": identical_repeats(results),
    }
    if gates is not None:
        report["gates"] = gates
    if resume is not None:
        report["resume"] = resume
    return report


# The keys assemble_report builds from a run's record and attempts. Every other key of a live
# report — the sections the features add through pytest_agentbench_report (ofat, ceilings,
# progress, tier_up, pipelines, judges, integrity, promotion...), the gates, a resume's
# differences, co-residence — is kept with the run in the database, as opaque JSON.
BUILT_KEYS = frozenset({
    "schema_version", "run_id", "started", "finished", "interrupted", "incomplete", "missing",
    "environment", "settings", "models", "attempts", "summary", "aggregates", "fairness",
    "identical_repeats",
})
# What a report re-rendered from a run recorded without its report (before the database kept
# it, or a run that never reached its end) cannot show: its ``not_recorded``.
NOT_RECORDED = [
    ("the sandbox tier and its limits, and the settings and models as the live report showed them "
     "(the database's start-of-run copies stand in)"),
    ("the sections the features and the gates added (ofat, ceilings, progress, pipelines, judges, "
     "integrity, promotion, tier_up, gates, resume)"),
]


def stored_parts(report: dict) -> dict:
    """What the database keeps of a live report beyond its attempts: the environment, settings
    and models it showed, and its other sections (``sections``: every key not in BUILT_KEYS)."""
    return {"environment": report.get("environment") or {}, "settings": report.get("settings") or {},
            "models": report.get("models") or {},
            "sections": {key: value for key, value in report.items() if key not in BUILT_KEYS}}


def build_report(session: AgentbenchSession, interrupted: bool = False, *,
                 missing: list[str] | None = None, max_infra_rate: float = 0.0,
                 resume: dict | None = None) -> dict:
    settings = session.settings
    report = assemble_report(
        run_id=session.run_id,
        started=session.started.isoformat(),
        finished=datetime.now(timezone.utc).isoformat(),
        interrupted=interrupted,
        environment={**environment(), **session.sandbox_environment()},
        settings={**run_settings(settings), "max_infra_rate": max_infra_rate},
        models={spec.name: {**spec.describe(), "base_url": session.endpoint_of(spec), "server": session.server_info.get(
                    spec.name, {"kind": None, "context_window": None})}
                for spec in settings.models},
        results=session.results,
        gates=[{"gate": g.gate.label, "mode": settings.gate_mode, "n": g.n, "c": g.c,
                "value": g.value, "ok": g.ok, "message": g.message, "total": g.total,
                "infra_errors": g.infra_errors, "missing": g.missing, "max_infra_rate": g.max_infra_rate}
               for g in session.gate_results],
        missing=missing or [],
        resume=resume,
    )
    if session.hook is not None:
        session.hook.pytest_agentbench_report(report=report)  # extra fields from conftest/plugins
    return report


def write_report(path: Path, report: dict) -> None:
    """Write atomically: a reader (or a crash) never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json_text(report, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
