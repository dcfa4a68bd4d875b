"""The hooks of every process that benchmarks (the controller and each xdist worker), registered
when its session starts: the header, which attempts run, and the reports that carry results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_agentbench.agent.encoding import literal_surrogates
from pytest_agentbench.attempt.identity import Attempt
from pytest_agentbench.attempt.outcome import Outcome
from pytest_agentbench.report.failure import failure_text, full_detail
from pytest_agentbench.report.header import header_lines, header_shown_key
from pytest_agentbench.run.collect import CanaryItem, junit_properties
from pytest_agentbench.run.pycanary import attempt_of, finish_report
from pytest_agentbench.run.state import (
    COLLECTOR_NAME,
    REPORT_ATTR,
    get_session,
    result_key,
    result_of,
)
from pytest_agentbench.schemas.canary import Canary
from pytest_agentbench.schemas.models import ModelSpec

if TYPE_CHECKING:
    from pytest_agentbench.run.controller import ResultCollector


def attempt_parts(item: pytest.Item) -> tuple[Canary, ModelSpec, int] | None:
    """(canary, model, repeat) of a canary attempt item, TOML or Python; None for other tests."""
    if isinstance(item, CanaryItem):
        return item.canary, item.model, item.repeat
    attempt = attempt_of(item)
    return (attempt.canary, attempt.model, attempt.repeat) if attempt is not None else None


def item_attempt(item: pytest.Item) -> Attempt | None:
    """The identity of a canary attempt item, TOML (built at collection) or Python; None for
    other tests."""
    if isinstance(item, CanaryItem):
        return item.attempt
    parts = attempt_parts(item)
    return Attempt.of(parts[0], parts[1], parts[2], item.nodeid) if parts is not None else None


def _check_unique_ids(items: list[pytest.Item]) -> None:
    """Two canaries with one id would overwrite each other's rows (TOML ones are caught at
    collection; this catches Python canaries, whose ids come from markers)."""
    seen: dict[str, Canary] = {}
    for item in items:
        parts = attempt_parts(item)
        if parts is None:
            continue
        canary = parts[0]
        # One canary file or function is parsed once: its attempts share one Canary object.
        first = seen.setdefault(canary.id, canary)
        if first is not canary:
            raise pytest.UsageError(f"duplicate canary id {canary.id!r}: {first.path} and {canary.path} - "
                                    "ids must be unique")


def _collector(config: pytest.Config) -> ResultCollector | None:
    return config.pluginmanager.get_plugin(COLLECTOR_NAME)  # by name: no import of the controller


class AttemptHooks:
    def pytest_report_header(self, config: pytest.Config) -> list[str] | None:
        session = get_session(config)
        collector = _collector(config)
        resume_lines = collector.model_warnings() if collector is not None else []
        if not session.settings.models_explicit:
            # No --models: the embedded default runs if canaries are collected; said after
            # collection (pytest_report_collectionfinish), not in every plain test run.
            return resume_lines or None
        config.stash[header_shown_key] = True
        return header_lines(session, resume_lines)

    def pytest_report_collectionfinish(self, config: pytest.Config, items: list[pytest.Item]) -> list[str] | None:
        """The embedded default's header: collection has shown that canaries run."""
        tiers = sorted({parts[0].tier for item in items if (parts := attempt_parts(item))})
        if config.option.collectonly or config.stash.get(header_shown_key, False) or not tiers:
            return None
        config.stash[header_shown_key] = True
        return header_lines(get_session(config), tiers=tiers)

    @pytest.hookimpl(trylast=True)  # after -k/-m deselection: the selection is what a resume compares
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        session = get_session(config)
        _check_unique_ids(items)
        tiers, done = session.settings.tiers, session.done
        collector = _collector(config)
        if collector is not None and collector.resumed is not None:
            # What this session would run were nothing done yet; compared with the resumed run's plan.
            collector.selection = {"canaries": sorted({a.canary for i in items if (a := item_attempt(i))
                                                       and (not tiers or a.tier in tiers)})}
        if not tiers and not done:
            return

        def wanted(item: pytest.Item) -> bool:
            attempt = item_attempt(item)
            if attempt is None:
                return True
            return (not tiers or attempt.tier in tiers) and attempt.key not in done

        keep, drop = [], []
        for item in items:
            (keep if wanted(item) else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        report = yield
        python_canary = finish_report(item, call, report)
        if python_canary is not None:
            item.stash[result_key] = python_canary
            report.user_properties.extend(junit_properties(python_canary))
        result = item.stash.get(result_key, None)
        if result is not None and report.when == "call":
            # Model text can hold lone surrogates: xdist's channel and the terminal refuse them.
            record = literal_surrogates(result.model_dump(mode="json"))
            setattr(report, REPORT_ATTR, record)
            if not report.passed:
                # Compact by default (one line; the check's output only when the tree changed),
                # the full record with -v: a flooded FAILURES section hides the summary.
                raised = python_canary is not None and call.excinfo is not None
                test_output = report.longreprtext if raised else ""  # the test body's own failure
                report.longrepr = failure_text(record, full_detail(item.config), test_output)
        return report

    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config) -> Any:
        result = result_of(report)
        if result is None:
            return None
        outcome = Outcome(result["outcome"])
        word = outcome.value.upper()
        if outcome is Outcome.PASSED:
            return "passed", ".", ("PASSED", {"green": True})
        if outcome.is_budget:
            return "budget", "B", (word, {"yellow": True})
        if outcome is Outcome.INFRA_ERROR:
            return "error", "E", (word, {"red": True})
        return "failed", "F", (word, {"red": True})
