"""The promotion decisions in words: terminal lines (the summary, ``agentbench promote``) and
the dated markdown report (``local-model-benchmark-YYYY-MM-DD.md``)."""

from __future__ import annotations

from pytest_agentbench.routing.escalation import escalation_line
from pytest_agentbench.routing.policy import POLICY_TEXT, Candidate, Decision


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _row(candidate: Candidate) -> list[str]:
    m = candidate.metrics
    status = ("incumbent" if candidate.eligible is None
              else "eligible" if candidate.eligible else "not eligible")
    return [m.model, m.family or "-", f"{m.passed}/{m.n}", _cell(m.acceptance_rate),
            f"[{m.interval[0]:.2f}, {m.interval[1]:.2f}]", _cell(m.review_pain),
            _cell(m.hard_failure_rate), f"{m.severity_passed}/{m.severity_total}", m.cost_tier, status,
            f"{_cell(m.cheat_rate)} ({m.cheated}/{m.integrity_n})" if m.integrity_n else "-"]


HEADERS = ["model", "family", "passed", "acceptance", "95% CI", "review_pain", "hard_failure_rate",
           "weighted_pass", "cost_tier", "status", "cheat_rate"]


ESCALATION_TEXT = (
    "Escalation: each failed attempt of the incumbent is retried on the role's escalation models, "
    "in order, until one passes: the escalation models' attempts of the same canary and repeat. "
    "The recovery rate is recovered / failed attempts (Wilson's 95% interval, clustered by "
    "canary); the cost is the turns, tokens and seconds of the escalation attempts taken in that "
    "order. It is reported beside the decision and never decides it.")


def verdict_line(decision: Decision) -> str:
    if decision.promoted:
        return f"decision: promote {decision.promoted} (replaces {decision.role.incumbent})"
    return f"decision: keep {decision.role.incumbent}"


def decision_lines(decision: Decision) -> list[str]:
    """One role: its candidates' metrics, each challenger's reasons, the decision."""
    rows = [_row(c) for c in decision.candidates]
    widths = [max(len(r[i]) for r in [HEADERS, *rows]) for i in range(len(HEADERS))]
    lines = [f"role {decision.role.name}: incumbent {decision.role.incumbent}"]
    for row in [HEADERS, *rows]:
        lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    for candidate in decision.candidates[1:]:
        lines.append(f"  {candidate.metrics.model}:")
        lines.extend(f"    - {reason}" for reason in candidate.reasons)
    if decision.escalation is not None:
        lines.append(f"  {escalation_line(decision.escalation, decision.role.incumbent)}")
    lines.append(f"  {verdict_line(decision)}")
    return lines


def markdown_report(decisions: list[Decision], run_id: str, date: str) -> str:
    """The dated report: roles, incumbents, challengers, metrics, decisions, reasons, policy."""
    out = [f"# Local model benchmark {date}", "", f"Run `{run_id}`.", "", "## Roles", ""]
    for d in decisions:
        challengers = ", ".join(f"`{n}`" for n in d.role.challengers) or "none"
        cases = max((c.metrics.cases for c in d.candidates), default=0)
        order = " -> ".join(f"`{n}`" for n in d.role.escalation)
        escalation = f"; escalation {order}" if order else ""
        out.append(f"- **{d.role.name}** ({cases} case{'s' * (cases != 1)}): incumbent "
                   f"`{d.role.incumbent}`; challengers {challengers}{escalation}")
    for d in decisions:
        out += ["", f"## {d.role.name}", "", "| " + " | ".join(HEADERS) + " |",
                "|" + "---|" * len(HEADERS)]
        out += ["| " + " | ".join(_row(c)) + " |" for c in d.candidates]
        out.append("")
        for candidate in d.candidates[1:]:
            out.append(f"- `{candidate.metrics.model}`:")
            out.extend(f"  - {reason}" for reason in candidate.reasons)
        if d.escalation is not None:
            out += ["", f"Escalation: {escalation_line(d.escalation, d.role.incumbent).removeprefix('escalation ')}."]
            out += [f"- {cell['canary']} r{cell['repeat']} ({cell['outcome']}): "
                    + (" -> ".join(f"`{t['model']}` {t['outcome']}" for t in cell["tried"]) or "no escalation attempt")
                    + ("" if cell["recovered_by"] else ", not recovered")
                    for cell in d.escalation["cells"]]
        out += ["", f"**{verdict_line(d).replace('decision: ', 'Decision: ')}**"]
    out += ["", "## Promotion policy", "", POLICY_TEXT, ""]
    if any(d.escalation is not None for d in decisions):
        out += [ESCALATION_TEXT, ""]
    return "\n".join(out)
