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
# One marker shape per model, the same in every chart: models are told apart by shape, not by
# colour alone (colour says the outcome where a chart has both).
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p"]
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


def model_markers(labels: list[str]) -> dict[str, str]:
    """Each model label's marker, in the order given (the report's own), cycling past 12."""
    return {label: MARKERS[i % len(MARKERS)] for i, label in enumerate(dict.fromkeys(labels))}


def _svg(figure: Any, chart_id: str) -> str:
    """The figure as an ``<svg>`` element for inlining: no XML prologue, no metadata block, ids
    salted by the chart's name (several SVGs on one page must not share clip-path ids)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": chart_id}):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = re.sub(r"\A.*?(?=<svg)", "", buffer.getvalue(), flags=re.DOTALL)
    return re.sub(r"<metadata>.*?</metadata>\s*", "", text, count=1, flags=re.DOTALL)


def pass_rate_chart(rows: list[dict[str, Any]], markers: dict[str, str]) -> Any:
    """pass@1 with its interval, one line per model x tier (rows as the table shows them); the
    dot is the model's marker."""
    from matplotlib.figure import Figure

    scored = [row for row in rows if row["n"]]
    figure = Figure(figsize=(7.5, 0.9 + 0.32 * len(scored)))
    ax = figure.subplots()
    labels = [f"{model_label(r)} · {r['tier']}" for r in scored]
    for y, row in enumerate(scored):
        rate, low, high = row["pass_rate"], row["ci_low"], row["ci_high"]
        ax.plot([low, high], [y, y], color="#57606a", linewidth=2, solid_capstyle="butt")
        ax.plot([rate], [y], markers.get(model_label(row), "o"), color="#0969da", markersize=6)
        marked = "*" if row.get("distinct_samples", row["n"]) < row["n"] else ""
        ax.annotate(f"{row['c']}/{row['n']}{marked}", (1.02, y), xycoords=("axes fraction", "data"),
                    va="center", fontsize=8, color="#57606a")
    ax.set_yticks(range(len(scored)), labels)
    ax.set_ylim(len(scored) - 0.5, -0.5)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("pass@1 (dot) and its Wilson interval (line)")
    return figure


def outcome_chart(rows: list[dict[str, Any]], markers: dict[str, str]) -> Any:
    """The outcome breakdown per model: one stacked bar of attempt counts, the model's marker at
    its end."""
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
    most = max(left, default=0) or 1
    for y, (row, total) in enumerate(zip(rows, left)):
        ax.plot([total + most * 0.03], [y], markers.get(model_label(row), "o"), color="#1f2328",
                markersize=6, clip_on=False)
    ax.set_xlim(0, most * 1.08)
    ax.set_yticks(range(len(rows)), [model_label(r) for r in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("attempts")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25 - 0.6 / (1 + len(rows))),
              ncol=min(len(present), 5), frameon=False, fontsize=8)
    return figure


def effort_chart(attempts: list[dict[str, Any]], markers: dict[str, str]) -> Any:
    """Turns and tokens of every attempt, coloured by outcome, shaped by model: where the budgets
    went."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    figure = Figure(figsize=(7.5, 3.6))
    ax = figure.subplots()
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    counts: dict[str, int] = {}
    for attempt in attempts:
        groups.setdefault((attempt["outcome"], model_label(attempt)), []).append(attempt)
        counts[attempt["outcome"]] = counts.get(attempt["outcome"], 0) + 1
    order = sorted(counts, key=lambda n: OUTCOME_ORDER.index(n) if n in OUTCOME_ORDER else 99)
    for (name, model), group in sorted(groups.items(), key=lambda item: order.index(item[0][0])):
        ax.scatter([a["turns"] for a in group],
                   [a["prompt_tokens"] + a["completion_tokens"] for a in group],
                   color=OUTCOME_COLOURS.get(name, "#1f2328"), marker=markers.get(model, "o"),
                   alpha=0.7, s=26, edgecolors="none")
    from matplotlib.ticker import MaxNLocator

    by_colour = [Line2D([], [], linestyle="none", marker="o", color=OUTCOME_COLOURS.get(name, "#1f2328"),
                        label=f"{name} ({counts[name]})") for name in order]
    by_shape = [Line2D([], [], linestyle="none", marker=markers.get(model, "o"), color="#57606a", label=model)
                for model in dict.fromkeys(model_label(a) for a in attempts)]

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(left=0, right=max(a["turns"] for a in attempts) + 1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("turns")
    ax.set_ylabel("tokens (prompt + completion)")
    # One legend (a second one would fall outside the drawn area): outcomes by colour, then
    # models by shape.
    spacer = Line2D([], [], linestyle="none", label=" ")
    ax.legend(handles=[*by_colour, spacer, *by_shape], fontsize=8, frameon=False, loc="upper left",
              bbox_to_anchor=(1.01, 1))
    return figure


def speed_chart(attempts: list[dict[str, Any]], markers: dict[str, str]) -> Any | None:
    """Decode tokens/s of each attempt, per model (the model's markers, with the median as a bar)."""
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
        ax.scatter(values, [y] * len(values), color="#0969da", marker=markers.get(name, "o"), alpha=0.6,
                   s=22, edgecolors="none")
        median = values[len(values) // 2]
        ax.plot([median, median], [y - 0.3, y + 0.3], color="#1f2328", linewidth=2)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlabel("completion tokens per second (markers: attempts; bar: median)")
    return figure


def charts(rows: list[dict[str, Any]], model_rows: list[dict[str, Any]],
           attempts: list[dict[str, Any]]) -> list[Chart]:
    """Every chart the report has data for. ``rows``: model x tier rows as the table shows them;
    ``model_rows``: one all-tiers row per model."""
    import matplotlib

    # One marker per model across every chart: the per-model rows' order, then any other label.
    markers = model_markers([model_label(r) for r in model_rows] + [model_label(r) for r in rows]
                            + [model_label(a) for a in attempts])
    found: list[Chart] = []
    with matplotlib.rc_context(_STYLE):
        if any(row["n"] for row in rows):
            found.append(Chart("chart-pass-rate", "pass@1 per model and tier",
                               "* the interval counts identical repeats once; shape: model",
                               _svg(pass_rate_chart(rows, markers), "pass-rate")))
        if model_rows:
            found.append(Chart("chart-outcomes", "Outcomes per model", "every attempt, infra_error included; the model's shape at the bar's end",
                               _svg(outcome_chart(model_rows, markers), "outcomes")))
        if attempts:
            found.append(Chart("chart-effort", "Turns and tokens per attempt",
                               f"{len(attempts)} attempts, colour: outcome, shape: model; identical repeats share a marker",
                               _svg(effort_chart(attempts, markers), "effort")))
            speed = speed_chart(attempts, markers)
            if speed is not None:
                found.append(Chart("chart-speed", "Decode speed", "the server's timings, else tokens over model time",
                                   _svg(speed, "speed")))
    return found
