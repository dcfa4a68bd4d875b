"""The HTML report: one self-contained page (no scripts, no external assets) rendered from the
JSON report's dict, so a live run and ``agentbench report RUN --html`` produce the same page."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from pytest_agentbench.outcome import Outcome

_COLOURS = {Outcome.PASSED: "#1a7f37", Outcome.FAILED: "#cf222e", Outcome.PHANTOM: "#8250df",
            Outcome.BUDGET_TURNS: "#9a6700", Outcome.BUDGET_TOKENS: "#9a6700",
            Outcome.BUDGET_TIME: "#9a6700", Outcome.MALFORMED: "#bc4c00",
            Outcome.TOOL_CONFUSION: "#bc4c00", Outcome.INFRA_ERROR: "#57606a",
            Outcome.TAMPERED: "#a40e26", Outcome.INVALID_OUTPUT: "#bc4c00"}
# Keyed by the name as the JSON report spells it (a str-Enum member hashes by its member name).
OUTCOME_COLOURS = {outcome.value: colour for outcome, colour in _COLOURS.items()}

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#1f2328}
table{border-collapse:collapse;margin:.5em 0 1.5em;width:100%}
th,td{border-bottom:1px solid #d0d7de;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.o{font-weight:600}details{margin:.2em 0}pre{white-space:pre-wrap;background:#f6f8fa;padding:.5em}
.warn{color:#cf222e;font-weight:600}small{color:#57606a}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _outcome(name: str) -> str:
    return f'<span class="o" style="color:{OUTCOME_COLOURS.get(name, "#1f2328")}">{_e(name)}</span>'


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
                         for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _aggregates(report: dict) -> str:
    ks = [int(k) for k in (report.get("settings") or {}).get("ks") or [1] if int(k) > 1]
    headers = ["model", "tier", "n", "pass@1", "CI"] + [f"pass@{k}" for k in ks] + \
              [f"pass^{k}" for k in ks] + ["flaky", "turns✓", "phantom", "tampered", "outcomes"]
    rows = []
    for row in report["aggregates"]:
        model = row["model"] if row["variant"] == "base" else f"{row['model']}/{row['variant']}"
        outcomes = " ".join(f"{_outcome(name)}&nbsp;{count}" for name, count in row["outcomes"].items())
        if row.get("pass_rate_by_try"):
            outcomes += "<br><small>passed within " + ", ".join(
                f"{t} {'try' if t == 1 else 'tries'}: {rate:.2f}"
                for t, rate in enumerate(row["pass_rate_by_try"], start=1)) + "</small>"
        interval = f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]" if row["n"] else "-"
        rows.append([_e(model), _e(row["tier"]), str(row["n"]), _rate(row["pass_rate"]), interval]
                    + [_rate(row["pass_at_k"].get(str(k))) for k in ks]
                    + [_rate(row["pass_hat_k"].get(str(k))) for k in ks]
                    + [str(row["stability"].get("flaky", 0)), _rate(row["mean_turns_to_complete"]),
                       _rate(row.get("phantom_rate")), _rate(row.get("tamper_rate")), outcomes])
    return _table(headers, rows, numeric={2, 3, *range(5, 5 + 2 * len(ks) + 4)})


def _canaries(report: dict) -> str:
    rows = [[_e(r["model"]), _e(r["canary"]), _e(r["tier"]), f"{r['c']}/{r['n']}",
             _rate(r["pass_at_1"]), f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]", _e(r["stability"]),
             " ".join(f"{_outcome(k)}&nbsp;{v}" for k, v in r["outcomes"].items())]
            for r in report["summary"]]
    return _table(["model", "canary", "tier", "passed", "pass@1", "CI", "stability", "outcomes"],
                  rows, numeric={3, 4})


def _loop(report: dict) -> str:
    """Tool calls, token split and the harness's help, per model (its all-tiers row)."""
    rows = [r for r in report["aggregates"] if r["tier"] == "all"]
    return _table(["model", "tool calls (errors)", "turns with a call", "batch max / mean",
                   "completion tokens without a call", "reasoning tokens", "nudges", "refused",
                   "limits hit", "decode tok/s"],
                  [[_e(r["model"] if r["variant"] == "base" else f"{r['model']}/{r['variant']}"),
                    _e(", ".join(f"{n} {c['calls']} ({c['errors']})" for n, c in r.get("tool_stats", {}).items())),
                    _rate(r.get("tool_call_turn_share")),
                    f"{r.get('max_batch_size', 0)} / {_rate(r.get('mean_batch_size'))}",
                    str(r.get("completion_tokens_without_tool_calls", 0)),
                    str(r.get("reasoning_tokens", 0)) + (" est." if r.get("reasoning_tokens_estimated") else ""),
                    _e(", ".join(f"{k} {v}" for k, v in (r.get("nudges") or {}).items()) or "-"),
                    str(r.get("refused_tool_calls", 0)),
                    _e(", ".join(f"{k} {v}" for k, v in (r.get("limits_hit") or {}).items()) or "-"),
                    _e(r.get("decode_tokens_per_second") or "-")] for r in rows])


def _attempt_extras(a: dict) -> str:
    """What limited the attempt and what help it got (issue 14)."""
    parts = []
    if a.get("limit_hit"):
        parts.append(f"limit hit: {a['limit_hit']}")
    if a.get("time_budget_mode") == "scaled":
        parts.append(f"time budget {a.get('time_budget_seconds')} s (x{a.get('time_budget_scale')}, "
                     f"{a.get('decode_tokens_per_second')} tokens/s)")
    if a.get("reasoning_tokens"):
        parts.append(f"{a['reasoning_tokens']} reasoning tokens")
    if a.get("nudges"):
        parts.append("nudges: " + ", ".join(f"{k} {v}" for k, v in a["nudges"].items()))
    return f"<p><small>{_e(' · '.join(parts))}</small></p>" if parts else ""


def _attempts(report: dict) -> str:
    parts = []
    for a in report["attempts"]:
        title = (f"{_e(a['canary'])} · {_e(a['model'])} · r{a['repeat']} · {_outcome(a['outcome'])}"
                 f" <small>{a['turns']} turns, {a['prompt_tokens'] + a['completion_tokens']} tokens,"
                 f" {a['wall_seconds']:.1f} s</small>")
        body = [f"<p>{_e(a['detail'])}</p>", _attempt_extras(a)]
        if a.get("files_changed"):
            body.append(f"<p>changed: {_e(', '.join(a['files_changed']))}</p>")
        if a.get("protected_changes"):
            body.append(f"<p>protected paths changed (not used by the checks): "
                        f"{_e(', '.join(a['protected_changes']))}</p>")
        for t, attempt_try in enumerate(a.get("tries") or [], start=1):
            body.append(f"<p>try {t}: {_outcome(attempt_try['outcome'])} — {_e(attempt_try['detail'])}</p>")
        if a.get("check_output_tail"):
            body.append(f"<pre>{_e(a['check_output_tail'])}</pre>")
        if a.get("transcript"):
            body.append(f"<p><small>transcript: {_e(a['transcript'])}</small></p>")
        parts.append(f"<details><summary>{title}</summary>{''.join(body)}</details>")
    return "".join(parts)


def render_html(report: dict) -> str:
    env = report.get("environment") or {}
    models = ", ".join(f"{_e(name)} ({_e((info.get('server') or {}).get('kind') or '?')})"
                       for name, info in (report.get("models") or {}).items())
    notes = []
    if report.get("interrupted"):
        notes.append('<p class="warn">This run was interrupted: the numbers cover the finished attempts.</p>')
    infra = sum(1 for a in report["attempts"] if a["outcome"] == Outcome.INFRA_ERROR)
    if infra:
        notes.append(f'<p class="warn">{infra} attempt(s) ended in infra_error (a model-server fault):'
                     " left out of n and every rate.</p>")
    notes += [f'<p class="warn">{_e(w["message"])}</p>' for w in report.get("fairness") or []]
    if env.get("sandbox") and env["sandbox"] != "bubblewrap":
        notes.append(f'<p class="warn">Sandbox tier: {_e(env["sandbox"])} (no OS sandbox).</p>')
    gates = report.get("gates") or []
    gate_html = "".join(f"<li>{'✔' if g['ok'] else '✘'} {_e(g['message'])}</li>" for g in gates)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>agentbench {_e(report['run_id'])}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>agentbench run {_e(report['run_id'])}</h1>"
        f"<p><small>{_e(report.get('started'))} → {_e(report.get('finished'))} · models: {models} · "
        f"python {_e(env.get('python'))} · plugin {_e(env.get('plugin_version'))}</small></p>"
        + "".join(notes)
        + "<h2>Per model and tier</h2>" + _aggregates(report)
        + (f"<h2>Gates</h2><ul>{gate_html}</ul>" if gates else "")
        + "<h2>Tool calls and tokens per model</h2>" + _loop(report)
        + "<h2>Per canary</h2>" + _canaries(report)
        + f"<h2>Attempts ({len(report['attempts'])})</h2>" + _attempts(report)
        + "</body></html>\n"
    )


def write_html(path: Path, report: dict) -> None:
    """Written atomically, like the JSON report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_html(report), encoding="utf-8")
    os.replace(tmp, path)
