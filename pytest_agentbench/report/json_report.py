"""The JSON report (DESIGN §4.4, ``schema_version = 1``)."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

from pytest_agentbench import __version__
from pytest_agentbench.report.summary import aggregate_rows, canary_rows
from pytest_agentbench.session import AgentbenchSession

SCHEMA_VERSION = 1


def build_report(session: AgentbenchSession, interrupted: bool = False) -> dict:
    results = sorted(session.results, key=lambda r: (r.canary, r.model, r.variant, r.repeat))
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": session.run_id,
        "started": session.started.isoformat(),
        "finished": datetime.now(timezone.utc).isoformat(),
        "interrupted": interrupted,
        "environment": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "plugin_version": __version__,
        },
        "settings": {"repeats": session.settings.repeats, "tiers": session.settings.tiers},
        "models": {
            spec.name: {**spec.describe(), "server": session.server_info.get(spec.name, {
                "kind": None, "context_window": None})}
            for spec in session.settings.models
        },
        "attempts": [result.model_dump(mode="json") for result in results],
        "summary": canary_rows(results, session.settings.confidence),
        "gates": [{"gate": g.gate.label, "mode": session.settings.gate_mode, "n": g.n, "c": g.c,
                   "value": g.value, "ok": g.ok, "message": g.message} for g in session.gate_results],
        "aggregates": aggregate_rows(results, session.settings.ks or [1], session.settings.confidence),
    }


def write_report(path: Path, report: dict) -> None:
    """Write atomically: a reader (or a crash) never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
