"""The per model × phase aggregate of pipeline attempts (the "Structured Output
Compliance" table, with the phase checks beside it), in the JSON report and the terminal.

It reaches both through the plugin's own hooks, as a ``conftest.py`` would: ``PipelineHooks`` is
registered on every benchmarking process (run/startup.py) and only the controller calls the two hooks.
The JSON report gets ``report["pipelines"] = {"phases": [...], "iterations": [...]}`` (absent
when the run has no pipeline attempt); each row is computed from the report's own
``attempts[].phases``, so the same function serves a report rebuilt from the database.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

SKIPPED = "skipped"


def _rate(count: int, total: int) -> float | None:
    return round(count / total, 3) if total else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def _counted(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # infra_error attempts say nothing about the model (as in pass rates)
    return [a for a in attempts if a.get("phases") and a.get("outcome") != "infra_error"]


def phase_rows(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per canary × model × variant × phase, phases in pipeline order."""
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for attempt in _counted(attempts):
        for phase in attempt["phases"]:
            key = (attempt["canary"], attempt["model"], attempt.get("variant", "base"), phase["name"])
            groups.setdefault(key, []).append(phase)
    rows = []
    for (canary, model, variant, name), phases in groups.items():
        ran = [p for p in phases if p.get("outcome") != SKIPPED]
        checked = [p for p in ran if p.get("json_ok") is not None]
        first = sum(1 for p in checked if p["json_ok"] and not p.get("json_retries"))
        ok = sum(1 for p in checked if p["json_ok"])
        writing = [p for p in ran if p.get("phantom") is not None]
        with_output = [p for p in ran if p.get("claims_checked")]
        judged = [p for p in ran if p.get("language") is not None or p.get("language_drift")]
        gated = [p for p in ran if p.get("regression") is not None]
        row = {
            "canary": canary, "model": model, "variant": variant, "phase": name,
            "n": len(phases), "ran": len(ran), "json_checked": len(checked),
            "json_first_try": first, "json_after_reprompt": ok - first, "json_never": len(checked) - ok,
            "json_first_try_rate": _rate(first, len(checked)), "json_success_rate": _rate(ok, len(checked)),
            "writing": len(writing), "phantom": sum(1 for p in writing if p["phantom"]),
            "hallucinated": sum(1 for p in with_output if p.get("hallucinated")),
            "invalid_paths": sum(1 for p in with_output if p.get("invalid_paths")),
            "claims_checked": len(with_output),
            "drift": sum(1 for p in judged if p.get("language_drift")), "language_checked": len(judged),
            "gated": len(gated), "reverted": sum(1 for p in gated if (p["regression"] or {}).get("reverted")),
            "violations": sum(1 for p in ran if p.get("violation")),
            "repeated": sum(1 for p in ran if p.get("repeated") is not None),
            # reprompt_on: outputs sent back at least once; skip_to taken after this phase
            "check_reprompted": sum(1 for p in ran if p.get("check_retries")),
            "skipped_to": sum(1 for p in ran if p.get("skipped_to")),
            "tally": _tally(ran),
            "plan_checked": sum(1 for p in ran if p.get("plan_checked")),
            "off_plan": sum(1 for p in ran if p.get("off_plan")),
            # Ceilings apart from output failures: a phase cut by its budget never wrote output.
            "budget": sum(1 for p in ran if str(p.get("outcome", "")).startswith("budget_")),
            "invalid_output": sum(1 for p in ran if p.get("outcome") == "invalid_output"),
            "mean_seconds": _mean([p.get("seconds") or 0.0 for p in ran]),
            "mean_turns": _mean([p.get("turns") or 0 for p in ran]),
            "mean_tokens": _mean([p.get("tokens") or 0 for p in ran]),
        }
        row["phantom_rate"] = _rate(row["phantom"], len(writing))
        row["hallucination_rate"] = _rate(row["hallucinated"], len(with_output))
        row["invalid_paths_rate"] = _rate(row["invalid_paths"], len(with_output))
        row["drift_rate"] = _rate(row["drift"], len(judged))
        row["off_plan_rate"] = _rate(row["off_plan"], row["plan_checked"])
        rows.append(row)
    return rows


def _tally(phases: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """phase.tally: each field's values counted over the runs (most frequent first)."""
    counts: dict[str, Counter] = {}
    for phase in phases:
        for field_path, values in (phase.get("tally") or {}).items():
            counts.setdefault(field_path, Counter()).update(str(v) for v in values)
    return {field_path: dict(counter.most_common()) for field_path, counter in counts.items()}


def iteration_rows(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trend line: per canary × model × variant × iteration, the mean score and repeats."""
    groups: dict[tuple[str, str, str, int], list[dict[str, Any]]] = {}
    for attempt in _counted(attempts):
        for record in attempt.get("iterations") or []:
            key = (attempt["canary"], attempt["model"], attempt.get("variant", "base"), record["iteration"])
            groups.setdefault(key, []).append(record)
    rows = []
    for (canary, model, variant, iteration), records in sorted(groups.items()):
        scores = [r["score"] for r in records if r.get("score") is not None]
        rows.append({"canary": canary, "model": model, "variant": variant, "iteration": iteration,
                     "n": len(records), "completed": sum(1 for r in records if r.get("completed")),
                     "mean_score": round(sum(scores) / len(scores), 3) if scores else None,
                     "scores": scores, "repeated": sum(1 for r in records if r.get("repeated"))})
    return rows


def pipeline_tables(attempts: list[dict[str, Any]]) -> dict[str, Any] | None:
    phases = phase_rows(attempts)
    if not phases:
        return None
    return {"phases": phases, "iterations": iteration_rows(attempts)}


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _cell(count: int, total: int) -> str:
    return f"{count}/{total}" if total else "-"


HEADERS = ["phase", "ran", "json 1st", "json ok", "budget", "phantom", "halluc.", "bad paths", "drift",
           "off plan", "reverted", "read-only viol.", "s", "turns", "tokens"]


def summary_lines(tables: dict[str, Any]) -> list[str]:
    """The terminal table: one block per canary × model × variant, one line per phase."""
    lines: list[str] = []
    blocks: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in tables["phases"]:
        blocks.setdefault((row["canary"], row["model"], row["variant"]), []).append(row)
    for (canary, model, variant), rows in blocks.items():
        label = model if variant == "base" else f"{model} · {variant}"
        lines.append(f"{canary} · {label}")
        table = [HEADERS] + [[
            row["phase"], _cell(row["ran"], row["n"]),
            _cell(row["json_first_try"], row["json_checked"]), _cell(row["json_first_try"] + row["json_after_reprompt"], row["json_checked"]),
            _cell(row["budget"], row["ran"]), _cell(row["phantom"], row["writing"]), _cell(row["hallucinated"], row["claims_checked"]),
            _cell(row["invalid_paths"], row["claims_checked"]), _cell(row["drift"], row["language_checked"]),
            _cell(row["off_plan"], row["plan_checked"]),
            _cell(row["reverted"], row["gated"]), str(row["violations"] or "-"),
            _number(row.get("mean_seconds"), ".1f"), _number(row.get("mean_turns"), ".1f"),
            _number(row.get("mean_tokens"), ".0f"),
        ] for row in rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(HEADERS))]
        lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
        for row in rows:  # phase.tally: e.g. "red_team verdict: holds 5, partial 2, broken 1"
            for field_path, counts in row.get("tally", {}).items():
                shown = ", ".join(f"{value} {count}" for value, count in counts.items())
                lines.append(f"  {row['phase']} {field_path}: {shown or '-'}")
        trend = [r for r in tables["iterations"]
                 if (r["canary"], r["model"], r["variant"]) == (canary, model, variant)]
        if trend:
            scores = " → ".join("-" if r["mean_score"] is None else f"{r['mean_score']:g}" for r in trend)
            repeats = sum(r["repeated"] for r in trend)
            lines.append(f"  iterations: score {scores}; distinct value repeated {repeats}x")
    return lines


class PipelineHooks:
    """``pytest_agentbench_summary`` and ``_report`` implementations for pipeline attempts."""

    NAME = "agentbench-pipelines"

    def __init__(self) -> None:
        self.session: Any = None  # set as the session starts

    def pytest_agentbench_session_started(self, session: Any) -> None:
        self.session = session

    def _tables(self) -> dict[str, Any] | None:
        attempts = [r.model_dump(mode="json", include={"canary", "model", "variant", "outcome",
                                                       "phases", "iterations"})
                    for r in self.session.results if r.phases]
        return pipeline_tables(attempts) if attempts else None

    def pytest_agentbench_summary(self, aggregates: list[dict[str, Any]], terminalreporter: Any) -> None:
        tables = self._tables()
        if tables is None:
            return
        terminalreporter.write_sep("=", "agentbench pipelines: structured output and phase checks")
        for line in summary_lines(tables):
            terminalreporter.write_line(line)

    def pytest_agentbench_report(self, report: dict[str, Any]) -> None:
        tables = pipeline_tables(report.get("attempts") or [])
        if tables is not None:
            report["pipelines"] = tables
