"""How the judges judged, per canary × artifact × describer × judge × mode: the report's ``judges``
section and a terminal table. Two ``[[verify.judge]]`` entries on one artifact, one
``describe-then-judge`` and one ``direct``, put the approval bias side by side: the direct judge
approving what the two-step check fails is that bias (measured at 0 of 3 defects caught against 3
of 3). A judge runs only on attempts whose deterministic checks passed. The approval rate counts
judged artifacts only: one not captured, tampered with or failing the entry's page checks was
never shown to a judge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_agentbench.schemas.judge_records import VERDICTS


def judge_rows(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per canary × artifact × describer × judge × mode, with its verdict counts."""
    groups: dict[tuple[str, str, str, str, str], dict[str, int]] = {}
    for attempt in attempts:
        for record in attempt.get("judges") or []:
            key = (attempt["canary"], record["artifact"], record.get("describer") or "-",
                   record["judge"], record["mode"])
            counts = groups.setdefault(key, dict.fromkeys(VERDICTS, 0))
            verdict = record.get("verdict")
            counts[verdict if verdict in VERDICTS else "error"] += 1
    rows = []
    for (canary, artifact, describer, judge, mode), counts in sorted(groups.items()):
        # Only a judge model approves: page checks alone (mode "checks") have no approval rate,
        # and a page that failed them was never shown to the judge.
        decided = counts["pass"] + counts["fail"] if mode != "checks" else 0
        rows.append({"canary": canary, "artifact": artifact, "describer": describer, "judge": judge,
                     "mode": mode, "n": sum(counts.values()), **counts,
                     "approval_rate": round(counts["pass"] / decided, 3) if decided else None})
    return rows


def summary_lines(rows: list[dict[str, Any]]) -> list[str]:
    header = ["canary", "artifact", "mode", "describer", "judge", "pass", "fail", "page check failed",
              "not captured", "tampered", "error", "approved"]
    table = [header] + [[r["canary"], r["artifact"], r["mode"], r["describer"], r["judge"],
                         *(str(r.get(v, 0)) for v in VERDICTS),
                         "-" if r["approval_rate"] is None else f"{r['approval_rate']:.2f}"]
                        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]


class JudgeHooks:
    """``pytest_agentbench_summary`` and ``_report`` implementations for judge checks."""

    NAME = "agentbench-judges"

    def __init__(self, rootdir: Path) -> None:
        self.rootdir = rootdir
        self.session: Any = None  # set as the session starts

    def pytest_agentbench_session_started(self, session: Any) -> None:
        from pytest_agentbench.judging.clients import JudgeModels

        self.session = session
        # Judge checks resolve registry model names through this session; verification reaches
        # them through the attempt's CheckSetup (attempt/verify.py), never by importing judging/.
        session.judge_models = JudgeModels(session, self.rootdir)

    def pytest_agentbench_summary(self, aggregates: list[dict[str, Any]], terminalreporter: Any) -> None:
        attempts = [r.model_dump(mode="json", include={"canary", "judges"})
                    for r in self.session.results if r.judges]
        rows = judge_rows(attempts)
        if not rows:
            return
        terminalreporter.write_sep("=", "agentbench judges: verdicts per describer, judge and mode")
        for line in summary_lines(rows):
            terminalreporter.write_line(line)

    def pytest_agentbench_report(self, report: dict[str, Any]) -> None:
        rows = judge_rows(report.get("attempts") or [])
        if rows:
            report["judges"] = rows
