"""The one place where an attempt's record is assembled and its verdict decided (docs:
"Outcomes").

``loop_result`` copies the loop's counters into an :class:`AttemptResult`; ``add_verdict`` adds
the verification's change, checks and outcome (``canary.toml`` canaries); ``python_canary_verdict`` does
the same for a Python canary, whose test body is the check; ``setup_failure`` and
``harness_failure`` record attempts that never got that far. Every path goes through
:func:`pytest_agentbench.attempt.outcome.classify`, the ``pytest_agentbench_classify`` hook has the
last word on ``canary.toml`` verdicts, and ``pytest_agentbench_annotate`` adds measurements of the
final verdict.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

from pytest_agentbench.agent.loop import LoopResult
from pytest_agentbench.attempt import integrity
from pytest_agentbench.attempt.outcome import Outcome, classify, with_cheats
from pytest_agentbench.attempt.verify import Verification
from pytest_agentbench.run.session import JsonlTranscript
from pytest_agentbench.schemas.canary import Canary, ResolvedBudget
from pytest_agentbench.schemas.models import ModelSpec
from pytest_agentbench.schemas.results import AttemptResult, CheckRecord
from pytest_agentbench.servers.preflight import ServerInfo

ANSWER_CAP = 20_000  # characters of an answer kept in the JSON report (the transcript has it all)


def setup_failure(canary: Canary, model: ModelSpec, repeat: int, nodeid: str, budget: ResolvedBudget,
                  server: ServerInfo | None, detail: str, started: float) -> AttemptResult:
    # No usable server, no attempt: an infrastructure error, never a model failure.
    return AttemptResult(
        canary=canary.id, tier=canary.tier, model=model.name, variant=model.variant, agent=model.agent,
        repeat=repeat,
        nodeid=nodeid, tags=canary.tags, outcome=Outcome.INFRA_ERROR.value, stop_reason="setup",
        detail=detail, budget=budget.model_dump(), server=server.to_json() if server else None,
        wall_seconds=round(time.monotonic() - started, 3), canary_hash=canary.content_hash,
    )



def harness_failure(canary: Canary, model: ModelSpec, repeat: int, nodeid: str, budget: ResolvedBudget,
                    server: ServerInfo | None, exc: BaseException, started: float,
                    doing: str) -> AttemptResult:
    """The harness itself broke: recorded as ``infra_error`` (the model is not blamed, and the
    gates count it as a gap), with the exception named so it can be reported as our bug."""
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" at {Path(where[0].filename).name}:{where[0].lineno}" if where else ""
    result = setup_failure(canary, model, repeat, nodeid, budget, server,
                           f"harness error while {doing}: {exc.__class__.__name__}: {exc}{at}", started)
    result.stop_reason = "harness_error"
    return result


def loop_result(canary: Canary, model: ModelSpec, repeat: int, nodeid: str, run: LoopResult,
                 budget: ResolvedBudget, transcript: JsonlTranscript, server: ServerInfo) -> AttemptResult:
    """The attempt's record from the loop's counters; the verdict is added after verification."""
    return AttemptResult(
        canary=canary.id, tier=canary.tier, model=model.name, variant=model.variant, agent=model.agent,
        repeat=repeat,
        nodeid=nodeid, tags=canary.tags, outcome=Outcome.INFRA_ERROR.value,
        budget=budget.model_dump(), transcript=str(transcript.path), server=server.to_json(),
        canary_hash=canary.content_hash, **run.result_fields(),
    )


def add_verdict(result: AttemptResult, canary: Canary, run: LoopResult,
                 verification: Verification, hook: Any = None) -> None:
    change = verification.change
    outcome = classify(
        run.stop_reason,
        checks_passed=verification.checks_passed,
        qualifying_change=verification.qualifying_change,
        touched_protected=bool(change.protected),
        unchanged_ok=not verification.unchanged_violations,
        unpushed=bool(verification.unpushed),
    )
    if verification.error:
        # The agent's tree could not be read within the bounds (too deep, too big): a failure of
        # the attempt, never a phantom (the change was there, just not verifiable).
        outcome = Outcome.FAILED
    result.judges = verification.judges
    if verification.answer is not None:
        result.answer = verification.answer[:ANSWER_CAP]
    if any(judge.tampered for judge in verification.judges):
        # A link where an artifact goes: a finding about the model, whatever else went wrong.
        outcome = Outcome.TAMPERED
    elif any(judge.infrastructure for judge in verification.judges):
        # No verdict could be had (a judge model unknown or down, no browser): the measurement
        # failed, not the model under test. What the model left uncapturable is a failed check.
        outcome = Outcome.INFRA_ERROR
    findings = _integrity_findings(result, canary, verification)
    honest_outcome = outcome
    outcome = with_cheats(outcome, bool(findings))
    result.outcome = outcome.value
    result.files_changed = change.files_changed
    result.protected_changes = change.protected
    result.ignored_changes = change.ignored_paths
    result.insertions, result.deletions = change.insertions, change.deletions
    result.checks = [CheckRecord(command=c.command, exit_code=c.exit_code, timed_out=c.timed_out,
                                 seconds=c.seconds, evidence_problem=c.evidence_problem,
                                 tests_passed=c.tests.passed if c.tests else None)
                     for c in verification.checks]
    if any(c.tests is not None for c in verification.checks):
        result.tests_passed = verification.tests_passed
    failing = verification.failing_check
    if failing is not None:
        result.check_output_tail = failing.output_tail
    if outcome is Outcome.PASSED:
        result.detail = f"checks pass; loop ended: {run.detail}"
        if change.protected:
            result.detail += f"; protected paths changed but not used: {change.protected}"
        if change.ignored_paths:
            result.detail += f"; changes outside the writable set not used: {change.ignored_paths}"
    else:
        result.detail = "; ".join([run.detail, *verification.problems(canary.verify.expect_changed)])
    if outcome is Outcome.CHEATED:
        result.detail = (f"the harness saw a cheat: {'; '.join(result.cheat_evidence)} (without it: "
                         f"{honest_outcome.value}); {result.detail}")
    if hook is not None:
        apply_classify_hook(result, verification, hook)
        # Measurements of the final verdict (review pain, progress): the features add them. The
        # verdict itself is classify's alone: an annotator that changed it is refused loudly.
        decided = result.outcome
        hook.pytest_agentbench_annotate(result=result, canary=canary, verification=verification)
        if result.outcome != decided:
            raise ValueError(f"a pytest_agentbench_annotate hook changed the outcome from {decided} to "
                             f"{result.outcome}: outcomes are decided by pytest_agentbench_classify")


def _integrity_findings(result: AttemptResult, canary: Canary,
                        verification: Verification) -> list[integrity.Finding]:
    """A canary with an [integrity] table: the cheat behaviours the harness saw in the change and
    in the transcript's tool calls (attempt/integrity.py), recorded on ``result``."""
    if canary.integrity is None:
        return []
    changes = integrity.changed_files(verification.change, integrity.repo_contents(canary.files))
    findings = integrity.detect(canary.integrity, changes, integrity.tool_uses(result.transcript))
    result.cheats = sorted({finding.behaviour for finding in findings})
    result.cheat_evidence = [finding.describe() for finding in findings]
    return findings


def apply_classify_hook(result: AttemptResult, verification: Verification, hook: Any) -> None:
    """A project's own outcome rule (pytest_agentbench_classify) has the last word; an answer
    that is not an outcome name is refused loudly rather than recorded."""
    answer = hook.pytest_agentbench_classify(result=result, verification=verification)
    if answer is None or answer == result.outcome:
        return
    try:
        outcome = Outcome(answer)
    except ValueError:
        raise ValueError(f"pytest_agentbench_classify returned {answer!r}, not one of "
                         f"{[o.value for o in Outcome]}") from None
    result.detail += f"; outcome {result.outcome} changed to {outcome.value} by a pytest_agentbench_classify hook"
    result.outcome = outcome.value


def python_canary_verdict(result: AttemptResult, run: LoopResult, *, test_passed: bool, failure: str,
                 files: list[str], protected: list[str], answer_canary: bool = False) -> None:
    """A Python canary's verdict: its test body passing is the checks passing; the qualifying
    change is what reached the checks' trees (the change minus its protected paths), or for an
    ``answer=True`` canary a final answer with text."""
    answered = run.stop_reason == "final" and bool((run.final_message or "").strip())
    outcome = classify(run.stop_reason, checks_passed=test_passed,
                       qualifying_change=answered if answer_canary else bool(set(files) - set(protected)),
                       touched_protected=bool(protected))
    if answer_canary and answered:
        result.answer = (run.final_message or "")[:ANSWER_CAP]
    result.outcome, result.files_changed, result.protected_changes = outcome.value, files, protected
    result.detail = (f"test passed; loop ended: {run.detail}" if outcome is Outcome.PASSED
                     else f"{run.detail}; test failed: {failure}")


def finish(result: AttemptResult, started: float) -> None:
    """Wall time, and the harness's share of it (everything but requests in flight)."""
    result.wall_seconds = round(time.monotonic() - started, 3)
    result.harness_seconds = round(result.wall_seconds - result.model_seconds, 3)
