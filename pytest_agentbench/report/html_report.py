"""The HTML report: one self-contained page (no scripts, nothing fetched) rendered from the JSON
report's dict, so a live run and ``agentbench report RUN --html`` produce the same page.

Jinja2 renders it (templates/report.html.j2, autoescape on: model text is hostile) and matplotlib
draws its charts as inline SVG (charts.py). Both are imported inside :func:`render_html`: this
module loads with every benchmark session, and only a run that writes the page pays for them.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_agentbench.agent.encoding import escape_surrogates
from pytest_agentbench.attempt.outcome import Outcome
from pytest_agentbench.report.charts import OUTCOME_COLOURS, charts, model_label
from pytest_agentbench.report.conversation import Budget, read_conversation
from pytest_agentbench.report.model_comparison import model_matrix, outcome_glossary, pairwise
from pytest_agentbench.report.summary import identical_repeats_line
from pytest_agentbench.sandbox.limits import format_bytes

TEMPLATES = Path(__file__).parent / "templates"


def table_rows(aggregates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The model x tier rows, without an ``all`` row that only repeats a model's single tier."""
    def cell(row: dict[str, Any]) -> tuple[str, str, str | None]:
        return row["model"], row["variant"], row.get("agent")  # an agent's rows are its own

    tiers: dict[tuple[str, str, str | None], int] = {}
    for row in aggregates:
        if row["tier"] != "all":
            tiers[cell(row)] = tiers.get(cell(row), 0) + 1
    return [row for row in aggregates if row["tier"] != "all" or tiers.get(cell(row), 0) != 1]


def _notes(report: dict[str, Any]) -> list[str]:
    notes = []
    if report.get("not_recorded"):  # re-rendered from a run the database kept no report of
        notes.append("Not recorded with this run (it predates the database keeping them, or never "
                      "reached its end): " + "; ".join(report["not_recorded"]) + ".")
    if report.get("interrupted"):
        notes.append("This run was interrupted: the numbers cover the finished attempts.")
    if report.get("incomplete"):
        notes.append(f"{len(report.get('missing') or [])} collected attempt(s) ended without a result.")
    infra = sum(1 for a in report["attempts"] if a["outcome"] == Outcome.INFRA_ERROR)
    if infra:
        notes.append(f"{infra} attempt(s) ended in infra_error (a model-server fault): left out of n "
                     "and every rate.")
    notes += [w["message"] for w in report.get("fairness") or []]
    notes += [f"Identical repeats: {identical_repeats_line(n)}" for n in report.get("identical_repeats") or []]
    env = report.get("environment") or {}
    if env.get("sandbox") and env["sandbox"] != "bubblewrap":
        notes.append(f"Sandbox tier: {env['sandbox']} (no OS sandbox).")
    return notes


def _models(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each model with the settings that decide its numbers (the output cap actually sent)."""
    settings = report.get("settings") or {}
    rows = []
    for name, info in (report.get("models") or {}).items():
        server = info.get("server") or {}
        rows.append({
            "name": name, "endpoint": info.get("base_url"), "model": info.get("model"),
            "server": ", ".join(str(part) for part in (
                server.get("kind"), server.get("version"),
                f"context {server['context_window']}" if server.get("context_window") else None,
                "managed" if info.get("managed_server") else None) if part) or "-",
            "temperature": info.get("temperature"), "seed_rule": info.get("seed_rule", "-"),
            "output_cap": settings.get("max_output_tokens") or info.get("max_tokens"),
            "knobs": ", ".join(f"{k} {v}" for k, v in ((settings.get("agent") or {}).get(name) or {}).items()
                               if v not in (None, False, 0)) or "-",
            "warnings": list(server.get("warnings") or []) + list(server.get("problems") or []),
        })
    return rows


def _setup(report: dict[str, Any]) -> dict[str, Any]:
    """The sandbox, the limits and the run's settings, as label/value pairs."""
    env, settings = report.get("environment") or {}, report.get("settings") or {}
    limits = env.get("sandbox_limits") or {}
    budgets: dict[tuple, set[str]] = {}
    for attempt in report["attempts"]:
        budget = attempt.get("budget") or {}
        key = (attempt["tier"], budget.get("turns"), budget.get("tokens"), budget.get("seconds"))
        budgets.setdefault(key, set()).add(attempt["canary"])
    time_budget = settings.get("time_budget") or {}
    return {
        "sandbox": env.get("sandbox") or "not recorded",
        "limits": [(name.replace("_", " "), "unlimited" if value is None else
                    str(value) if name == "processes" else format_bytes(value))
                   for name, value in limits.items()],
        "unenforced": env.get("sandbox_unenforced") or [],
        "budgets": [{"tier": tier, "turns": turns, "tokens": tokens, "seconds": seconds,
                     "canaries": sorted(canaries)}
                    for (tier, turns, tokens, seconds), canaries in sorted(budgets.items(), key=str)],
        "settings": [
            ("repeats", settings.get("repeats")), ("tiers", ", ".join(settings.get("tiers") or []) or "all"),
            ("confidence", settings.get("confidence")),
            ("variants", ", ".join(settings.get("variants") or {}) or "base"),
            ("time budget", (f"{time_budget.get('default', 'fixed')} (reference "
                             f"{time_budget.get('reference_tokens_per_second', '-')} tokens/s, at most "
                             f"x{time_budget.get('max_scale', '-')})")),
            ("request timeout", f"{settings.get('request_timeout', '-')} s"),
            ("output cap override", settings.get("max_output_tokens") or "none (each model's max_tokens)"),
            ("max infra rate", settings.get("max_infra_rate", 0)),
            ("python", env.get("python")), ("platform", env.get("platform")),
            ("plugin", env.get("plugin_version")),
        ],
    }


def _attempts(report: dict[str, Any], budget: Budget) -> list[dict[str, Any]]:
    return [{**attempt, "label": model_label(attempt),
             "tokens": attempt["prompt_tokens"] + attempt["completion_tokens"],
             "conversation": read_conversation(attempt.get("transcript"), budget)}
            for attempt in report["attempts"]]


def context(report: dict[str, Any], budget: Budget | None = None) -> dict[str, Any]:
    """What the template shows, from the JSON report (charts apart)."""
    aggregates = report.get("aggregates") or []
    ks = [int(k) for k in (report.get("settings") or {}).get("ks") or [1] if int(k) > 1]
    return {
        "report": report, "env": report.get("environment") or {}, "ks": ks,
        "notes": _notes(report), "rows": table_rows(aggregates),
        "model_rows": [row for row in aggregates if row["tier"] == "all"],
        "models": _models(report), "setup": _setup(report),
        "attempts": _attempts(report, budget or Budget()),
        "ofat": report.get("ofat"), "ceilings": report.get("ceilings"),
        "sections": extra_sections(report),
        "glossary": outcome_glossary(), "matrix": model_matrix(report), "pairs": pairwise(report),
    }


# Report keys that other parts of the plugin add through pytest_agentbench_report (pipelines,
# progress, promotion, co-residence...), shown as plain tables: a list of flat rows is one table,
# a dict of such lists one table per entry. Title by key; unknown keys are left to the JSON.
EXTRA_SECTIONS = {"pipelines": "Pipelines (per phase)", "progress": "Progress on discriminators",
                  "promotion": "Roles and promotion", "memory": "Models sharing a machine",
                  "agents": "Agents", "judges": "Judge verdicts",
                  "integrity": "Integrity: propensity to cheat"}


def extra_sections(report: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{"title", "columns", "rows"}]`` for each present EXTRA_SECTIONS key."""
    sections = []
    for key, title in EXTRA_SECTIONS.items():
        value = report.get(key)
        tables = value.items() if isinstance(value, dict) else [("", value)]
        for name, rows in tables:
            if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
                continue
            columns = list(dict.fromkeys(column for row in rows for column in row))
            sections.append({"title": f"{title}: {name.replace('_', ' ')}" if name else title,
                             "columns": columns, "rows": [[row.get(c) for c in columns] for row in rows]})
    return sections


def _when(value: Any) -> str:
    """An ISO timestamp as people read it: ``2026-12-05 03:49:11 UTC`` (seconds, no offset
    noise); anything else as it is."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if moment.tzinfo is not None else "")


def _duration(started: Any, finished: Any) -> str:
    """``12 min 5 s`` between two ISO timestamps; empty when either is missing or unreadable."""
    try:
        seconds = (datetime.fromisoformat(str(finished)) - datetime.fromisoformat(str(started))).total_seconds()
    except (TypeError, ValueError):
        return ""
    if seconds < 0:
        return ""
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours} h {minutes} min" if hours else f"{minutes} min {rest} s" if minutes else f"{rest} s")


def _rate(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


def _show(value: Any) -> str:
    """A value of a generic section (OFAT, ceilings): numbers short, the rest as text."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_show(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "; ".join(_show(v) for v in value)
    return str(value)


def render_html(report: dict[str, Any], budget: Budget | None = None) -> str:
    import jinja2
    from markupsafe import Markup

    ctx = context(report, budget)
    found = charts(ctx["rows"], ctx["model_rows"], report["attempts"])
    # A missing key renders empty: a report re-rendered from an older run lacks newer fields.
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                     trim_blocks=True, lstrip_blocks=True)
    environment.filters.update(rate=_rate, show=_show, when=_when)
    environment.globals.update(duration=_duration)
    environment.globals.update(colour=lambda name: OUTCOME_COLOURS.get(name, "#1f2328"))
    # Markup: matplotlib's SVG is ours (it escapes the labels it draws), the one unescaped part.
    return environment.get_template("report.html.j2").render(
        **ctx, charts=[(chart, Markup(chart.svg)) for chart in found])


def write_html(path: Path, report: dict[str, Any]) -> None:
    """Written atomically, like the JSON report."""
    page = render_html(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # A model's text can hold lone surrogates (sent as JSON escapes), which UTF-8 cannot encode:
    # shown as those escapes.
    tmp.write_text(escape_surrogates(page), encoding="utf-8")
    os.replace(tmp, path)
