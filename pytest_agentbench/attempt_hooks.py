"""The hooks of every process that benchmarks (the controller and each xdist worker), registered
when its session starts: the header, which attempts run, and the reports that carry results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_agentbench.canary import Canary
from pytest_agentbench.collect import CanaryItem, junit_properties
from pytest_agentbench.history import AttemptKey, attempt_key
from pytest_agentbench.ledger import ExpectedAttempt
from pytest_agentbench.models import ModelSpec
from pytest_agentbench.outcome import Outcome
from pytest_agentbench.pycanary import attempt_of, finish_report
from pytest_agentbench.sampling import sampling_lines
from pytest_agentbench.state import REPORT_ATTR, get_session, result_key, result_of

if TYPE_CHECKING:
    from pytest_agentbench.controller import ResultCollector


def attempt_parts(item: pytest.Item) -> tuple[Canary, ModelSpec, int] | None:
    """(canary, model, repeat) of a canary attempt item, TOML or Python; None for other tests."""
    if isinstance(item, CanaryItem):
        return item.canary, item.model, item.repeat
    attempt = attempt_of(item)
    return (attempt.canary, attempt.model, attempt.repeat) if attempt is not None else None


def expected_attempt(item: pytest.Item) -> ExpectedAttempt | None:
    """The ledger's entry for a canary attempt item; None for other tests."""
    parts = attempt_parts(item)
    if parts is None:
        return None
    canary, model, _ = parts
    return ExpectedAttempt(item.nodeid, canary.id, model.name, model.variant, canary.tier)


def _resume_key(item: pytest.Item) -> tuple[str, AttemptKey] | None:
    """(tier, resume key) of a canary attempt item; None for other tests."""
    parts = attempt_parts(item)
    if parts is None:
        return None
    canary, model, repeat = parts
    return canary.tier, attempt_key(canary.id, model.name, model.variant, repeat)


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
    from pytest_agentbench.controller import ResultCollector

    return ResultCollector.of(config)


class AttemptHooks:
    def pytest_report_header(self, config: pytest.Config) -> list[str] | None:
        session = get_session(config)
        collector = _collector(config)
        resume_lines = collector.model_warnings() if collector is not None else []
        if not session.settings.models_explicit:
            return resume_lines or None  # the plugin stays quiet in test runs that don't benchmark
        lines = [f"agentbench: run {session.run_id} · repeats {session.settings.repeats}", *resume_lines]
        if session.settings.variants[0].name != "base":
            lines.append("agentbench: sweep: " + " · ".join(v.name for v in session.settings.variants))
        lines.extend(session.sandbox_banner())
        # Each model's temperature and seed rule; at temperature 0 a loud note (sampling.py).
        lines.extend(sampling_lines(session.settings.attempt_models(), session.settings.repeats))
        for model in session.settings.models:
            if model.server is not None:
                lines.append(f"agentbench: {model.name}: managed server, started on first use")
                continue
            info = session.preflight(model)
            found = ", ".join(part for part in (
                info.kind + (f" {info.version}" if info.version else ""),
                f"context {info.context_window}" if info.context_window else "context unknown",
                {True: "tools ok", False: "NO TOOLS", None: "tools unknown"}[info.tool_support],
                info.chat_template,
            ) if part)
            lines.append(f"agentbench: {model.name} @ {model.base_url}: {found}")
            lines.extend(f"agentbench:   PROBLEM: {text}" for text in info.problems)
            lines.extend(f"agentbench:   warning: {text}" for text in info.warnings)
        return lines

    @pytest.hookimpl(trylast=True)  # after -k/-m deselection: the selection is what a resume compares
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        session = get_session(config)
        _check_unique_ids(items)
        tiers, done = session.settings.tiers, session.done
        collector = _collector(config)
        if collector is not None and collector.resumed is not None:
            # What this session would run were nothing done yet; compared with the resumed run's plan.
            collector.selection = {"canaries": sorted({e.canary for i in items if (e := expected_attempt(i))
                                                       and (not tiers or e.tier in tiers)})}
        if not tiers and not done:
            return

        def wanted(item: pytest.Item) -> bool:
            found = _resume_key(item)
            if found is None:
                return True
            tier, key = found
            return (not tiers or tier in tiers) and key not in done

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
            setattr(report, REPORT_ATTR, result.model_dump(mode="json"))
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
