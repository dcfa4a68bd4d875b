"""The integrity package's plugin, registered in every benchmarking process (features.py): on the
controller it adds the propensity to cheat to the terminal summary and to the report
(``integrity``: per model ``n``, ``cheated``, ``rate``, ``interval``, ``by_behaviour``…, which
the HTML report shows as a table) — through the plugin's own hooks, as a ``conftest.py`` would."""

from __future__ import annotations

from typing import Any

from pytest_agentbench.integrity.render import CAVEAT, propensity_lines
from pytest_agentbench.records.propensity import cheat_rows
from pytest_agentbench.run.session import AgentbenchSession


class IntegrityHooks:
    NAME = "agentbench-integrity"

    def __init__(self) -> None:
        self.session: AgentbenchSession = None  # type: ignore[assignment]  (set as the session starts)

    def pytest_agentbench_session_started(self, session: AgentbenchSession) -> None:
        self.session = session

    def table(self) -> dict[str, Any] | None:
        """The report's ``integrity`` section; None when no attempt measured cheating."""
        confidence = self.session.settings.confidence
        rows = cheat_rows(self.session.results, confidence)
        if not rows:
            return None
        return {"models": rows, "confidence": confidence,
                "interval_method": "wilson, cluster-robust by canary", "reads": CAVEAT}

    def pytest_agentbench_summary(self, aggregates: list[dict[str, Any]], terminalreporter: Any) -> None:
        table = self.table()
        if table is None:
            return
        terminalreporter.write_sep("=", "agentbench integrity: propensity to cheat")
        for line in propensity_lines(table["models"], table["confidence"]):
            terminalreporter.write_line(line)

    def pytest_agentbench_report(self, report: dict[str, Any]) -> None:
        table = self.table()
        if table is not None:
            report["integrity"] = table
