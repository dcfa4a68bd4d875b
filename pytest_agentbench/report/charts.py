"""The HTML report's charts: matplotlib figures written as inline SVG (no script, nothing fetched,
text kept as text so the page stays searchable and small).

matplotlib is imported inside :func:`charts` only: the report module loads with the session, and
a run that writes no HTML report never pays for matplotlib. No pyplot: a ``Figure`` drawn
through its own canvas changes no global backend or state of the process it runs in (a test
run that also uses matplotlib keeps its own settings).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

from pytest_agentbench.attempt.outcome import Outcome

# One colour per outcome (distinct within a family, so a stacked bar can be read).
OUTCOME_COLOURS = {
    Outcome.PASSED.value: "#1a7f37", Outcome.FAILED.value: "#cf222e", Outcome.PHANTOM.value: "#8250df",
    Outcome.TAMPERED.value: "#a40e26", Outcome.BUDGET_TURNS.value: "#9a6700",
    Outcome.BUDGET_TOKENS.value: "#d4a72c", Outcome.BUDGET_TIME.value: "#7d4e00",
    Outcome.MALFORMED.value: "#bc4c00", Outcome.TOOL_CONFUSION.value: "#fb8f44",
    Outcome.INVALID_OUTPUT.value: "#953800", Outcome.UNPUSHED.value: "#0969da",
    Outcome.ESCALATED.value: "#1b7c83", Outcome.CHEATED.value: "#6e011a",
    Outcome.INFRA_ERROR.value: "#6e7781",
}
OUTCOME_ORDER = [outcome.value for outcome in Outcome]
_STYLE = {
    "svg.fonttype": "none",  # text as <text>, not glyph outlines: a third of the size
    "text.parse_math": False,  # a "$" in a model name is a dollar, not TeX
    "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "grid.color": "#d0d7de", "grid.linewidth": 0.6, "axes.axisbelow": True,
}


@dataclass
class Chart:
    id: str
    title: str
    caption: str
    svg: str


def model_label(row: dict[str, Any]) -> str:
    label = row["model"] if row.get("variant", "base") == "base" else f"{row['model']}/{row['variant']}"
    return f"{label} via {row['agent']}" if row.get("agent") else label  # agent rows


def _svg(figure: Any, chart_id: str) -> str:
    """The figure as an ``<svg>`` element for inlining: no XML prologue, no metadata block, ids
    salted by the chart's name (several SVGs on one page must not share clip-path ids)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": chart_id}):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = re.sub(r"\A.*?(?=<svg)", "", buffer.getvalue(), flags=re.DOTALL)
    return re.sub(r"<metadata>.*?</metadata>\s*", "", text, count=1, flags=re.DOTALL)


def pass_rate_chart(rows: list[dict[str, Any]]) -> Any:
    """pass@1 with its interval, one line per model x tier (rows as the table shows them)."""
    from matplotlib.figure import Figure

    scored = [row for row in rows if row["n"]]
    figure = Figure(figsize=(7.5, 0.9 + 0.32 * len(scored)))
    ax = figure.subplots()
    labels = [f"{model_label(r)} · {r['tier']}" for r in scored]
    for y, row in enumerate(scored):
        rate, low, high = row["pass_rate"], row["ci_low"], row["ci_high"]
        ax.plot([low, high], [y, y], color="#57606a", linewidth=2, solid_capstyle="butt")
        ax.plot([rate], [y], "o", color="#0969da", markersize=6)
        marked = "*" if row.get("distinct_samples", row["n"]) < row["n"] else ""
        ax.annotate(f"{row['c']}/{row['n']}{marked}", (1.02, y), xycoords=("axes fraction", "data"),
                    va="center", fontsize=8, color="#57606a")
    ax.set_yticks(range(len(scored)), labels)
    ax.set_ylim(len(scored) - 0.5, -0.5)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("pass@1 (dot) and its Wilson interval (line)")
    return figure


def outcome_chart(rows: list[dict[str, Any]]) -> Any:
    """The outcome breakdown per model: one stacked bar of attempt counts."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 1.3 + 0.35 * len(rows)))
    ax = figure.subplots()
    present = [name for name in OUTCOME_ORDER if any(row["outcomes"].get(name) for row in rows)]
    left = [0] * len(rows)
    for name in present:
        counts = [row["outcomes"].get(name, 0) for row in rows]
        ax.barh(range(len(rows)), counts, left=left, color=OUTCOME_COLOURS.get(name, "#1f2328"),
                label=name, height=0.6)
        left = [a + b for a, b in zip(left, counts)]
    ax.set_yticks(range(len(rows)), [model_label(r) for r in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("attempts")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25 - 0.6 / (1 + len(rows))),
              ncol=min(len(present), 5), frameon=False, fontsize=8)
    return figure


def effort_chart(attempts: list[dict[str, Any]]) -> Any:
    """Turns and tokens of every attempt, coloured by outcome: where the budgets went."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 3.6))
    ax = figure.subplots()
    by_outcome: dict[str, list[dict[str, Any]]] = {}
    for attempt in attempts:
        by_outcome.setdefault(attempt["outcome"], []).append(attempt)
    for name in sorted(by_outcome, key=lambda n: OUTCOME_ORDER.index(n) if n in OUTCOME_ORDER else 99):
        group = by_outcome[name]
        ax.scatter([a["turns"] for a in group],
                   [a["prompt_tokens"] + a["completion_tokens"] for a in group],
                   color=OUTCOME_COLOURS.get(name, "#1f2328"), label=f"{name} ({len(group)})",
                   alpha=0.7, s=22, edgecolors="none")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(left=0, right=max(a["turns"] for a in attempts) + 1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("turns")
    ax.set_ylabel("tokens (prompt + completion)")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1))
    return figure


def speed_chart(attempts: list[dict[str, Any]]) -> Any | None:
    """Decode tokens/s of each attempt, per model (dots, with the median as a bar)."""
    from matplotlib.figure import Figure

    speeds: dict[str, list[float]] = {}
    for attempt in attempts:
        if attempt.get("tokens_per_second"):
            speeds.setdefault(model_label(attempt), []).append(float(attempt["tokens_per_second"]))
    if not speeds:
        return None
    names = sorted(speeds)
    figure = Figure(figsize=(7.5, 0.9 + 0.35 * len(names)))
    ax = figure.subplots()
    for y, name in enumerate(names):
        values = sorted(speeds[name])
        ax.scatter(values, [y] * len(values), color="#0969da", alpha=0.6, s=18, edgecolors="none")
        median = values[len(values) // 2]
        ax.plot([median, median], [y - 0.3, y + 0.3], color="#1f2328", linewidth=2)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlabel("completion tokens per second (dots: attempts; bar: median)")
    return figure


def charts(rows: list[dict[str, Any]], model_rows: list[dict[str, Any]],
           attempts: list[dict[str, Any]]) -> list[Chart]:
    """Every chart the report has data for. ``rows``: model x tier rows as the table shows them;
    ``model_rows``: one all-tiers row per model."""
    import matplotlib

    found: list[Chart] = []
    with matplotlib.rc_context(_STYLE):
        if any(row["n"] for row in rows):
            found.append(Chart("chart-pass-rate", "pass@1 per model and tier",
                               "* the interval counts identical repeats once",
                               _svg(pass_rate_chart(rows), "pass-rate")))
        if model_rows:
            found.append(Chart("chart-outcomes", "Outcomes per model", "every attempt, infra_error included",
                               _svg(outcome_chart(model_rows), "outcomes")))
        if attempts:
            found.append(Chart("chart-effort", "Turns and tokens per attempt",
                               f"{len(attempts)} attempts; identical repeats share a dot",
                               _svg(effort_chart(attempts), "effort")))
            speed = speed_chart(attempts)
            if speed is not None:
                found.append(Chart("chart-speed", "Decode speed", "the server's timings, else tokens over model time",
                                   _svg(speed, "speed")))
    return found
