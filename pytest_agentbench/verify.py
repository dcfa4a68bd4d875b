"""Verification after the agent has finished: diff the tree, overlay hidden tests, run checks.

The diff is taken *before* the hidden files are overlaid, so it is exactly what the agent did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pytest_agentbench.canary import Canary
from pytest_agentbench.sandbox import Sandbox, run_command
from pytest_agentbench.workspace import DiffStat, diff_against_baseline, overlay

OUTPUT_TAIL_CHARS = 3000


@dataclass
class CheckResult:
    command: str
    exit_code: int | None
    timed_out: bool
    seconds: float
    output_tail: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


@dataclass
class Verification:
    diff: DiffStat
    qualifying_change: bool
    protected_touched: list[str]
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def checks_passed(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failing_check(self) -> CheckResult | None:
        return next((check for check in self.checks if not check.ok), None)

    def problems(self, expect_changed: list[str]) -> list[str]:
        """Why this verification did not pass, in words for the failure report."""
        found = []
        if not self.diff.files_changed:
            found.append("the tree has no change")
        elif not self.qualifying_change:
            found.append(f"no file matching expect_changed {expect_changed} was changed")
        if self.protected_touched:
            found.append(f"files that must stay unchanged were changed: {self.protected_touched}")
        failing = self.failing_check
        if failing is not None:
            status = "timed out" if failing.timed_out else f"exited {failing.exit_code}"
            found.append(f"check `{failing.command}` {status}")
        return found


def run_verification(
    canary: Canary, worktree: Path, baseline_commit: str, env: dict[str, str],
    sandbox: Sandbox | None = None, stop_early: bool = True, keep_hidden: bool = True,
) -> Verification:
    """Diff, overlay ``hidden/``, run the checks. ``keep_hidden=False`` puts the tree back as
    the agent left it afterwards, for another try that must not see the hidden tests."""
    diff = diff_against_baseline(worktree, baseline_commit)
    expected = canary.verify.expect_changed
    qualifying = bool(diff.files_changed) and (not expected or bool(diff.matching(expected)))
    verification = Verification(
        diff=diff,
        qualifying_change=qualifying,
        protected_touched=diff.matching(canary.verify.expect_unchanged),
    )
    saved = None if keep_hidden else _save_targets(canary.hidden_dir, worktree)
    overlay(canary.hidden_dir, worktree)
    try:
        _run_checks(canary, worktree, env, sandbox, stop_early, verification)
    finally:
        if saved is not None:
            _restore_targets(saved)
    return verification


def _run_checks(canary: Canary, worktree: Path, env: dict[str, str], sandbox: Sandbox | None,
                stop_early: bool, verification: Verification) -> None:
    for command in canary.verify.run:
        # Checks run jailed too: an agent-written conftest.py must not run on the host.
        outcome = run_command(command, worktree, canary.verify.timeout, env, sandbox=sandbox)
        verification.checks.append(
            CheckResult(
                command=command,
                exit_code=outcome.exit_code,
                timed_out=outcome.timed_out,
                seconds=round(outcome.seconds, 3),
                output_tail=outcome.output[-OUTPUT_TAIL_CHARS:],
            )
        )
        if stop_early and not outcome.ok:
            break  # later checks cannot change the verdict; save the time


def _save_targets(source: Path, destination: Path) -> dict[Path, bytes | None]:
    """What the overlay of ``source`` is about to replace: each target's bytes, or None."""
    saved: dict[Path, bytes | None] = {}
    if source.is_dir():
        for path in source.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                target = destination / path.relative_to(source)
                regular = target.is_file() and not target.is_symlink()
                saved[target] = target.read_bytes() if regular else None
    return saved


def _restore_targets(saved: dict[Path, bytes | None]) -> None:
    for target, content in saved.items():
        if content is None:
            target.unlink(missing_ok=True)
        else:
            target.write_bytes(content)
