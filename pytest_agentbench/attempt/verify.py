"""Verification after the agent has finished — never in the agent's own tree.

1. The agent's tree is read (not trusted): :func:`~pytest_agentbench.trees.tree_diff.tree_change`
   compares it with the baseline commit, without git's index or the agent's ignore files.
2. A fresh *verification tree* is checked out from the baseline; the agent's change to
   unprotected paths (:mod:`~pytest_agentbench.attempt.protect`) is copied in — regular files and in-tree
   links only — and ``hidden/`` is overlaid there. Nothing the harness writes follows a link.
3. ``verify.run`` runs there, in the sandbox, with a fresh scratch home. A pytest check passes on
   evidence: exit 0 *and* a complete JUnit report (written outside the tree) with passing tests
   and no failure or error; together the pytest checks must pass at least ``verify.expect_tests``.
   Other commands keep exit-code semantics.
   When they pass, the judge checks' artifacts (``verify.judge``, judging/) are captured in the
   same tree; their models are asked once it is gone.
4. The verification tree is removed. The agent never sees the hidden files, in any try.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_agentbench.attempt import check_config
from pytest_agentbench.attempt.junit import (
    REPORT_VAR,
    TestCounts,
    read_report,
    report_options,
    runs_pytest,
    wants_report,
)
from pytest_agentbench.attempt.protect import ProtectionRules
from pytest_agentbench.attempt.push import PushRemote, pushed_tree
from pytest_agentbench.attempt.writable import WritableSet, writable_set
from pytest_agentbench.sandbox.commands import Jail, Sandbox, command_env, run_command
from pytest_agentbench.sandbox.limits import SandboxLimits
from pytest_agentbench.schemas.canary import Canary
from pytest_agentbench.schemas.judge_records import JudgeRecord
from pytest_agentbench.trees import safe_fs
from pytest_agentbench.trees.tree_diff import (
    TreeChange,
    apply_change,
    count_lines,
    tree_change,
    unified_diff,
)
from pytest_agentbench.trees.workspace import Baseline, TreeManager

if TYPE_CHECKING:
    from pytest_agentbench.schemas.models import ModelSpec

OUTPUT_TAIL_CHARS = 3000
ANSWER_VAR = "AGENTBENCH_ANSWER"  # an answer canary's checks read the final answer from this file
_names = itertools.count()


@dataclass
class CheckResult:
    command: str
    exit_code: int | None
    timed_out: bool
    seconds: float
    output: str
    tests: TestCounts | None = None  # from the runner's report (pytest checks)
    evidence_problem: str = ""  # why the report does not prove a pass

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.evidence_problem

    @property
    def output_tail(self) -> str:
        return self.output[-OUTPUT_TAIL_CHARS:]


@dataclass
class Verification:
    change: TreeChange
    qualifying_change: bool
    unchanged_violations: list[str]  # expect_unchanged paths the agent changed
    checks: list[CheckResult] = field(default_factory=list)
    error: str = ""  # the agent's tree could not be verified (too deep, too big...)
    expect_tests: int | None = None
    run_expected: bool = False  # the canary has verify.run (so no check at all is no pass)
    review: list[CheckResult] = field(default_factory=list)  # verify.review, in order; never gate
    judges: list[JudgeRecord] = field(default_factory=list)  # verify.judge, in order
    answer: str | None = None  # verify.answer: the final answer the checks read; None otherwise
    # verify.push: the commit on the remote's main (None: nothing pushed), and the paths whose
    # change in the working tree is not what was pushed
    pushed_commit: str | None = None
    push_problem: str = ""  # a push the remote cannot give back (push.pushed_tree)
    unpushed: list[str] = field(default_factory=list)
    push: bool = False

    @property
    def protected_changes(self) -> list[str]:
        return self.change.protected

    @property
    def tests_passed(self) -> int:
        return sum(c.tests.passed for c in self.checks if c.tests is not None)

    @property
    def shortfall(self) -> str:
        """Why the checks' reports together show too few passing tests, or ''."""
        needed = self.expect_tests
        ran_pytest = any(c.tests is not None for c in self.checks)
        if needed and ran_pytest and self.tests_passed < needed:
            return (f"the test reports show {self.tests_passed} passing tests, fewer than the "
                    f"{needed} the reference solution passes (verify.expect_tests)")
        return ""

    @property
    def checks_passed(self) -> bool:
        return (not self.error and all(check.ok for check in self.checks)
                and bool(self.checks or not self.run_expected) and not self.shortfall
                and all(judge.ok for judge in self.judges))

    @property
    def failing_check(self) -> CheckResult | None:
        return next((check for check in self.checks if not check.ok), None)

    def problems(self, expect_changed: list[str]) -> list[str]:
        """Why this verification did not pass, in words for the failure report."""
        found = []
        if self.error:
            # The change could not be read: saying "no change" would be false.
            found.append(f"verification error: {self.error}")
        elif self.answer is not None and not self.answer.strip():
            found.append("the final answer is empty")
        elif self.push and self.pushed_commit is None:
            found.append(self.push_problem or "nothing was pushed to the remote's main")
        elif self.answer is None and not self.change.files_changed:
            found.append("the tree has no change")
        elif not self.qualifying_change:
            applied = self.change.applied_paths
            found.append("the change touched only protected paths"
                         if self.change.protected and not applied and not self.change.ignored_paths
                         else f"no file matching expect_changed {expect_changed} was changed"
                         if expect_changed else "the change touched no path of the writable set")
        if self.protected_changes:
            reasons = self.change.protected_reasons()
            found.append("protected paths changed (left out of the verification tree): "
                         + ", ".join(f"{p} ({reasons[p]})" for p in self.protected_changes))
        if self.unpushed:
            found.append("work in the tree that was not pushed: " + ", ".join(self.unpushed[:20]))
        if self.change.ignored_paths:
            found.append("changes outside the writable set (not used by the checks): "
                         + ", ".join(self.change.ignored_paths[:20])
                         + (" ..." if len(self.change.ignored_paths) > 20 else ""))
        if self.unchanged_violations:
            found.append(f"files that must stay unchanged were changed: {self.unchanged_violations}")
        failing = self.failing_check
        if failing is not None:
            status = "timed out" if failing.timed_out else f"exited {failing.exit_code}"
            if failing.exit_code == 0 and failing.evidence_problem:
                status = f"exited 0 but {failing.evidence_problem}"
            elif failing.evidence_problem and not failing.timed_out:
                status += f" ({failing.evidence_problem})"
            found.append(f"check `{failing.command}` {status}")
        elif self.shortfall:
            found.append(self.shortfall)
        found += [f"judge check {j.artifact!r} ({j.judge}): {j.verdict}: {j.reason}"
                  for j in self.judges if not j.ok]
        return found


@dataclass
class CheckSetup:
    """Where checks run: the baseline to check out, the sandbox tier and limits, and read-only
    paths the checks name (a toolchain, a shared node_modules)."""

    manager: TreeManager
    baseline: Baseline
    jail: bool
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    extra_readonly: list[Path] = field(default_factory=list)
    reuse: bool = False  # pooled verification trees (bubblewrap tier only: see TreeManager.release)
    # Judge checks: the session's registry models, and where each exchange with them
    # is logged (the attempt's transcript). No models: judge checks are not run (validate).
    judge_models: Any = None  # judging.clients.JudgeModels, from the judging plugin
    log: Callable[[dict[str, Any]], None] | None = None
    subject: ModelSpec | None = None  # the attempt's model: a judge check's "{model}"


def protection_rules(canary: Canary, baseline: Baseline) -> ProtectionRules:
    paths = frozenset(baseline.manifest)
    return ProtectionRules(hidden=hidden_files(canary), expect_unchanged=canary.verify.expect_unchanged,
                           allow_changed=canary.verify.allow_changed, check_commands=canary.verify.run,
                           baseline_paths=paths, writable=canary_writable_set(canary, paths))


def canary_writable_set(canary: Canary, baseline_paths: frozenset[str]) -> WritableSet:
    # Files a judge check reads (file:, page: artifacts) are results of the task: always writable.
    judged = [spec.target for spec in canary.verify.judge
              if spec.kind in ("file", "page") and not spec.target.startswith(("http://", "https://"))]
    return writable_set(canary.verify.writable, sorted(canary.files.solution),
                        canary.verify.expect_changed, baseline_paths, answer=canary.verify.answer,
                        also=judged)


def hidden_files(canary: Canary) -> list[str]:
    return sorted(canary.files.hidden)


def examine(canary: Canary, agent_tree: Path, baseline: Baseline) -> tuple[TreeChange, str]:
    """The agent's change, or an empty one and why the tree could not be read."""
    try:
        change = tree_change(agent_tree, baseline.manifest, protection_rules(canary, baseline))
        count_lines(change, baseline.path, baseline.manifest)
        return change, ""
    except (safe_fs.TreeError, OSError, ValueError) as exc:
        return TreeChange(), str(exc)


def run_verification(canary: Canary, agent_tree: Path, setup: CheckSetup, name: str,
                     stop_early: bool = True, answer: str | None = None,
                     phases: dict[str, str] | None = None) -> Verification:
    """Diff the agent's tree, build the verification tree, run the checks there. ``answer``: the
    attempt's final answer, which an answer canary's checks read (``verify.answer``)."""
    change, error = examine(canary, agent_tree, setup.baseline)
    expected = canary.verify.expect_changed
    applied = change.applied_paths
    matching = not expected or bool(change.matching(expected, True))
    answer = (answer or "") if canary.verify.answer else None
    verification = Verification(
        change=change,
        # An answer canary's result is its answer: that is the change that qualifies (a tree
        # change is needed as well only where expect_changed asks for one).
        qualifying_change=(bool(answer.strip()) and (not expected or matching) if answer is not None
                           else bool(applied) and matching),
        unchanged_violations=change.matching(canary.verify.expect_unchanged),
        error=error, expect_tests=canary.verify.expect_tests, run_expected=bool(canary.verify.run),
        answer=answer,
    )
    if not error:
        files = dict(canary.files.hidden)  # as the run first read them, never from disk now
        run = canary.verify.run
        artifacts: list[Any] = []
        capture = None
        if canary.verify.judge and verification.qualifying_change and setup.judge_models is not None:
            # Captured in the verification tree after the checks pass; judged once it is gone.
            # The model's links never reach that tree: an artifact at one is told apart from a
            # missing one by the change itself.
            links = {c.path: c.entry.target for c in change.changes
                     if c.entry is not None and c.entry.kind == "link"}

            def capture(tree: Path, in_tree: Callable[[str], tuple[int | None, str]],
                        jail: Jail | None) -> None:
                artifacts.extend(setup.judge_models.capture(
                    canary.verify.judge, tree, in_tree,
                    lambda: unified_diff(change, setup.baseline.path, setup.baseline.manifest), jail,
                    answer, links, phases))
        checks = run_checks(run, canary.verify.timeout, change, files, setup, f"{name}.verify",
                            stop_early, review=[check.run for check in canary.verify.review],
                            capture=capture, answer=answer, plugins=canary.verify.pytest_plugins)
        verification.checks, verification.review = checks[:len(run)], checks[len(run):]
        if artifacts:
            assert setup.judge_models is not None
            verification.judges = setup.judge_models.judge(canary.verify.judge, artifacts,
                                                           setup.log, setup.subject)
    return verification


def verify_pushed(canary: Canary, push: PushRemote, working_tree: Path, setup: CheckSetup,
                  name: str) -> Verification:
    """A push canary's verification (attempt/push.py): of the commit on the remote's main, read from the
    remote by the harness; the working tree only says whether work was left unpushed."""
    pushed_dir, commit, problem = pushed_tree(push, setup.baseline, working_tree.parent)
    try:
        verification = run_verification(canary, pushed_dir, setup, name)
    finally:
        safe_fs.remove_tree(pushed_dir)
    verification.push, verification.pushed_commit, verification.push_problem = True, commit, problem
    if not (verification.checks_passed and verification.qualifying_change):
        work, error = examine(canary, working_tree, setup.baseline)
        expected = canary.verify.expect_changed
        if not error and work.applied and (not expected or work.matching(expected, True)):
            mine = {(c.path, c.entry.blob if c.entry else "") for c in work.applied}
            pushed = {(c.path, c.entry.blob if c.entry else "") for c in verification.change.applied}
            verification.unpushed = sorted({path for path, _ in mine ^ pushed})
    return verification


def run_checks(commands: list[str], timeout: float, change: TreeChange, files: dict[str, bytes],
               setup: CheckSetup, name: str, stop_early: bool = True,
               output_cap: int | None = None, review: list[str] | None = None,
               capture: Callable[[Path, Callable[[str], tuple[int | None, str]], Jail | None], None]
               | None = None, answer: str | None = None, plugins: list[str] | None = None,
               ) -> list[CheckResult]:
    """Run ``commands`` in a fresh tree: baseline + the applied part of ``change`` + ``files``;
    then, in the same tree and only when every one of them passed, the ``review`` commands
    (their results follow the checks' in the list; a failing one does not stop the others)."""
    review = review or []
    plugins = plugins or []
    name = f"{name}-{next(_names)}"
    if setup.reuse:
        tree = setup.manager.acquire(setup.baseline, purpose="verify")
    else:
        tree = setup.manager.checkout(setup.baseline, name)
    scratch = Path(tempfile.mkdtemp(prefix=f"{name}.", dir=tree.parent))
    home, reports = scratch / "home", scratch / "reports"
    home.mkdir()
    reports.mkdir()
    answers: list[Path] = []  # the answer's directory, read-only in the jail (answer canaries)
    results: list[CheckResult] = []
    try:
        for relative, data in files.items():  # the canary's configuration: hidden/ included
            safe_fs.write_file(tree, relative, data)
        config = check_config.canary_config(tree)  # before the agent's change is applied
        apply_change(change, tree)
        for relative, data in files.items():  # hidden files win over anything the change brought
            safe_fs.write_file(tree, relative, data)
        guard = check_config.write_guard(scratch / "harness")
        env = {**command_env(home), **check_config.runner_env()}
        if answer is not None:
            # Outside the tree, read-only in the jail: only the model's final message puts text here.
            answers.append(scratch / "answer")
            answers[0].mkdir()
            # A lone surrogate in the model's answer is the model's: written escaped, not a crash.
            (answers[0] / "answer.md").write_text(answer, encoding="utf-8", errors="backslashreplace")
            env[ANSWER_VAR] = str(answers[0] / "answer.md")
        for number, command in enumerate([*commands, *review]):
            reviewing = number >= len(commands)
            if reviewing and not all(result.ok for result in results):
                break  # review pain is measured on accepted changes only
            # A fresh sandbox per check: the tree's growth counts from here.
            sandbox = Sandbox(writable=[tree, home, reports],
                              readonly=[tree / ".git", setup.baseline.path / ".git", *answers,
                                        guard, *setup.extra_readonly],
                              limits=setup.limits, jail=setup.jail)
            report = reports / f"check-{number}.report"
            check_env = {**env, REPORT_VAR: str(report)}
            if runs_pytest(command):
                check_env.update(check_config.pytest_check_env(
                    tree, config, guard, plugins,
                    f"{env['PYTEST_ADDOPTS']} {report_options(report)}"))
            kwargs = {} if output_cap is None else {"output_cap": output_cap}
            outcome = run_command(command, tree, timeout, check_env, sandbox=sandbox, **kwargs)
            result = CheckResult(command=command, exit_code=outcome.exit_code,
                                 timed_out=outcome.timed_out, seconds=round(outcome.seconds, 3),
                                 output=outcome.output)
            if wants_report(command) and not outcome.timed_out:
                _judge_report(result, report, tree)
            results.append(result)
            if stop_early and not result.ok and not reviewing:
                break  # later checks cannot change the verdict; save the time
        passed = results[:len(commands)]
        if capture is not None and len(passed) == len(commands) and all(r.ok for r in passed):
            def in_tree(command: str) -> tuple[int | None, str]:
                # A judge check's `command:` artifact: in this tree, in a fresh sandbox.
                sandbox = Sandbox(writable=[tree, home, reports],
                                  readonly=[tree / ".git", setup.baseline.path / ".git", *answers,
                                            *setup.extra_readonly],
                                  limits=setup.limits, jail=setup.jail)
                outcome = run_command(command, tree, timeout, dict(env), sandbox=sandbox)
                return outcome.exit_code, outcome.output
            # A page's own scripts (and a serve command) are the agent's code: the browser runs
            # where the checks do. jail_argv without the rlimit prefix: Chromium reserves
            # terabytes of address space.
            browser = Sandbox(writable=[tree, home], readonly=[tree / ".git", *setup.extra_readonly],
                              limits=setup.limits, jail=True)
            jail = Jail(lambda argv: browser.jail_argv(tree, dict(env), argv) if setup.jail else argv,
                        home, dict(env), tree)
            capture(tree, in_tree, jail)
    finally:
        setup.manager.release(setup.baseline, tree, setup.reuse, purpose="verify")
        safe_fs.remove_tree(scratch)
    return results


def _judge_report(result: CheckResult, report: Path, tree: Path) -> None:
    counts = read_report(report, tree)
    if isinstance(counts, str):
        result.evidence_problem = counts
        return
    result.tests = counts
    if counts.failed or counts.errors:
        result.evidence_problem = (f"the test report shows {counts.failed} failed and "
                                   f"{counts.errors} errors")
    elif counts.passed == 0:
        result.evidence_problem = "the test report shows no passing test"

