"""Review pain of one attempt: the clean-up a reviewer would face on an accepted
change — the severities of its failing review checks (``[[verify.review]]``) plus the number of
changed files outside ``verify.expect_changed``; and the severity-weighted pass count of its
acceptance checks and judge checks."""

from __future__ import annotations

import fnmatch

from pytest_agentbench.attempt.outcome import Outcome
from pytest_agentbench.attempt.verify import Verification
from pytest_agentbench.schemas.canary import Canary
from pytest_agentbench.schemas.results import AttemptResult


def unexpected_files(files: list[str], expect_changed: list[str]) -> int:
    """Changed files no ``expect_changed`` pattern names (0 without patterns: nothing expected
    means nothing to call stray)."""
    if not expect_changed:
        return 0
    return sum(1 for path in files if not any(fnmatch.fnmatch(path, p) for p in expect_changed))


def record_review(result: AttemptResult, canary: Canary, verification: Verification) -> None:
    """Fill the severity-weighted pass count of an attempt with acceptance checks, and
    ``review_checks`` and ``review_pain`` of an accepted one (others stay None)."""
    weights = canary.verify.run_severity or [1] * len(canary.verify.run)
    # A judge check counts like any check, with its own severity.
    judge_weights = [spec.severity for spec in canary.verify.judge]
    if weights or judge_weights:
        # A check never run (an earlier one failed and stopped them, or judges when the checks
        # failed) did not pass.
        result.severity_total = sum(weights) + sum(judge_weights)
        result.severity_passed = (sum(w for w, check in zip(weights, verification.checks) if check.ok)
                                  + sum(w for w, judge in zip(judge_weights, verification.judges) if judge.ok))
    if result.outcome != Outcome.PASSED.value:
        return
    severities = [check.severity for check in canary.verify.review]
    result.review_checks = [{"command": check.command, "severity": severity, "ok": check.ok}
                            for check, severity in zip(verification.review, severities)]
    failing = sum(r["severity"] for r in result.review_checks if not r["ok"])
    result.review_pain = failing + unexpected_files(result.files_changed, canary.verify.expect_changed)
