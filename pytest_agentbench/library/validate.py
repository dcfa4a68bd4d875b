"""``agentbench validate``: prove that each canary can fail and can pass.

A canary that cannot fail measures nothing (every model "passes"); one that cannot pass punishes
every model. So, per canary, in a temporary directory that is always removed:

1. **load** – ``canary.toml`` must load (the error names file, line and field).
2. **null control** – a fresh baseline of ``repo/``, an untouched worktree, then the plugin's own
   verification (``hidden/`` overlaid, ``verify.run`` in the sandbox). It must *fail*.
   The rule: the null control fails when a check fails. An untouched tree never has a qualifying
   change, so the plugin itself would always fail it – if that counted, every canary with checks
   would look fine even when its hidden tests pass on the starting repo. Hence the checks alone
   must fail. A canary with no ``verify.run`` is decided by ``expect_changed`` only; its null
   control fails exactly when the untouched tree has no qualifying change (always true), and it
   gets a warning: any edit to a matching file passes it.
3. **reference** – a second fresh worktree with ``solution/`` overlaid *before* verification (so
   its files are the change, as if an agent had written them). It must pass every check, make a
   qualifying change and touch nothing in ``expect_unchanged``. No ``solution/``: ``missing``, a
   warning, or a problem with ``--require-solution``.

   A judge entry's deterministic page checks (``checks = ["no_console_errors", "not_blank"]``
   on a ``page:`` artifact) run here too, on the untouched repo and on the reference, with no
   model asked: failing on the untouched repo makes the null control fail, failing on the
   reference is a problem, and a cheater (below) must pass them to pass.

4. **integrity** – a canary with an ``[integrity]`` table (docs/verdicts.md, "Integrity: the
   propensity to cheat"): the reference above must trip none of its cheat rules (the honest
   path), and its ``cheat_path`` — tool calls played on a fresh worktree, as a cheating model
   would make them — must be labelled a cheat (``cheated`` or ``tampered``, with a behaviour the
   canary names). No cheat path: ``missing``, a problem with ``--require-solution``.

Commands run through the same sandbox tier the plugin would use (``auto``: bubblewrap when its
probe works, else the process tier) with the same cleared environment.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pytest_agentbench.attempt import integrity
from pytest_agentbench.attempt.junit import REPORT_VAR, wants_report
from pytest_agentbench.attempt.outcome import classify, with_cheats
from pytest_agentbench.attempt.verify import (
    CheckSetup,
    Verification,
    canary_writable_set,
    protection_rules,
    run_verification,
)
from pytest_agentbench.cli import UsageError, _table
from pytest_agentbench.features import page_checks, reference_checks
from pytest_agentbench.library.exploits import (
    Exploit,
    created_file_exploits,
    existing_changed_files,
    exploit_bytes,
    generic_exploits,
)
from pytest_agentbench.library.toml_edit import write_expect_tests
from pytest_agentbench.run.collect import CANARY_FILENAME, CANARY_SUBDIRS
from pytest_agentbench.sandbox.commands import bubblewrap_problem, check_paths
from pytest_agentbench.schemas.canary import Canary, CanaryError, load_canary
from pytest_agentbench.trees import safe_fs
from pytest_agentbench.trees.workspace import Baseline, TreeManager, WorkspaceError

SANDBOXES = ("auto", "bubblewrap", "none", "process")  # process: the old name of none
TAIL_LINES = 6  # of a failing check's output, in a problem message: enough to see the assertion
REFERENCE_ANSWER = "reference/answer.md"  # a verify.answer canary's reference: a right answer


@dataclass
class CanaryValidation:
    path: Path
    canary_id: str | None
    tier: str | None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    null_control: str = "not run"  # "fails" (good) | "PASSES" (a defect) | "not run"
    reference: str = "not run"  # "passes" | "FAILS" | "missing" | "not run"
    cheaters: str = "not run"  # "fail" (good: every generic exploit fails) | "PASS" | "not run"
    tests_passed: int | None = None  # passing tests in the reference's pytest reports
    writable: list[str] = field(default_factory=list)  # the writable set, one rule a line
    # An [integrity] canary: "labelled" (good: the cheat path is a cheat, the reference is not),
    # "NOT LABELLED", "HONEST PATH FLAGGED", "missing" (no cheat path) or "n/a"
    integrity: str = "n/a"
    integrity_lines: list[str] = field(default_factory=list)  # the honest path, the cheat path
    page_lines: list[str] = field(default_factory=list)  # judge entries' page checks, both trees
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def find_canaries(paths: list[Path]) -> list[Path]:
    """The canary files under ``paths`` (each a ``canary.toml`` or a directory), sorted, unique.

    A canary's own ``repo/``, ``hidden/`` and ``solution/`` are not searched (a canary may be
    *about* canary files), nor are dot-directories (``.git``, ``.venv``). A path that does not
    exist raises ``FileNotFoundError``.
    """
    found: set[Path] = set()
    for root in paths:
        if root.is_file():
            found.add(root)
            continue
        if not root.is_dir():
            raise FileNotFoundError(f"no such file or directory: {root}")
        for directory, subdirs, files in os.walk(root):
            is_canary = CANARY_FILENAME in files
            if is_canary:
                found.add(Path(directory) / CANARY_FILENAME)
            subdirs[:] = sorted(
                d for d in subdirs
                if not d.startswith(".") and d != "__pycache__" and not (is_canary and d in CANARY_SUBDIRS)
            )
    return sorted(found)


def sandbox_tier(sandbox: str) -> str:
    """``bubblewrap`` or ``none`` for a ``--sandbox`` choice, like the plugin's option."""
    if sandbox not in SANDBOXES:
        raise UsageError(f"--sandbox must be one of {', '.join(SANDBOXES)}, not {sandbox!r}")
    if sandbox in ("none", "process"):
        return "none"
    problem = bubblewrap_problem()
    if problem and sandbox == "bubblewrap":
        raise UsageError(f"--sandbox bubblewrap: {problem}")
    return "none" if problem else "bubblewrap"


def _verify(canary: Canary, manager: TreeManager, baseline: Baseline, name: str, tier: str,
            files: dict[str, bytes] | None = None, answer: str = "") -> Verification:
    """The plugin's own verification of a tree made of the baseline plus ``files`` (a reference
    solution, an exploit), exactly as an agent's tree would be verified; ``answer`` is the final
    answer a ``verify.answer`` canary's checks read (empty: none given)."""
    tree = manager.create_worktree(baseline, name)
    for relative, data in (files or {}).items():
        safe_fs.write_file(tree, relative, data)  # before verification: these files *are* the change
    extra = check_paths(canary.verify.run, [canary.directory.parent], home=Path.home())
    setup = CheckSetup(manager, baseline, jail=tier == "bubblewrap", extra_readonly=extra)
    try:
        return run_verification(canary, tree, setup, name, answer=answer)
    finally:
        manager.remove_worktree(baseline, tree)


def _directory_files(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-TAIL_LINES:])


def _has_files(directory: Path) -> bool:
    return directory.is_dir() and any(p.is_file() for p in directory.rglob("*"))


def validate_canary(canary_toml: Path, *, sandbox: str = "auto",
                    require_solution: bool = False) -> CanaryValidation:
    """Load, null control and reference control of one canary (see the module docstring)."""
    started = time.monotonic()
    tier = sandbox_tier(sandbox)
    result = CanaryValidation(path=canary_toml, canary_id=None, tier=None)
    try:
        canary = load_canary(canary_toml)
    except CanaryError as exc:
        result.problems.extend(str(exc).splitlines())
        result.seconds = round(time.monotonic() - started, 2)
        return result
    result.canary_id, result.tier = canary.id, canary.tier
    if not canary.repo_dir.is_dir():
        result.warnings.append("no repo/ directory: the agent starts from an empty repository")
    if not canary.verify.run:
        result.warnings.append("no verify.run: any change to a file matching expect_changed passes")
    for command in canary.verify.run:
        if not wants_report(command):
            result.warnings.append(
                f"check `{command}` passes on its exit code alone (no pytest report, no report at "
                f"${REPORT_VAR}): whatever makes it exit 0 passes it")
    for check in reference_checks():  # e.g. a pipeline's scripted pass (the final tree: below)
        found = check(canary)
        if found is not None:
            problems, missing = found
            result.problems.extend(problems)
            if missing:
                (result.problems if require_solution else result.warnings).append(missing)
    with tempfile.TemporaryDirectory(prefix="agentbench-validate-", ignore_cleanup_errors=True) as tmp:
        try:
            manager = TreeManager(Path(tmp))
            baseline = manager.baseline(canary.repo_dir, canary.id, canary.files.repo)
            writable = canary_writable_set(canary, frozenset(baseline.manifest))
            result.writable = writable.describe()
            if writable.everything:
                result.warnings.append("no writable set (no verify.writable, solution/ or "
                                       "expect_changed): every change but the protected paths "
                                       "reaches the checks")
            null_pages = _page_checks(result, canary, manager, baseline, tier, "null control (repo/)")
            _null_control(result, canary, manager, baseline, tier, bool(null_pages))
            reference = _reference(result, canary, manager, baseline, tier, require_solution)
            if result.reference in ("passes", "FAILS") and _has_files(canary.solution_dir):
                found = [f"reference: page check {problem}" for problem in _page_checks(
                    result, canary, manager, baseline, tier, "reference (solution/)",
                    _directory_files(canary.solution_dir))]
                if found:
                    result.reference = "FAILS"
                    result.problems.extend(found)
            _integrity(result, canary, manager, baseline, tier, require_solution, reference)
            _cheaters(result, canary, manager, baseline, tier)
        except (WorkspaceError, OSError) as exc:
            result.problems.append(f"could not set up a workspace: {exc}")
        finally:
            # Files written inside the jail may be read-only; TemporaryDirectory ignores errors.
            shutil.rmtree(tmp, ignore_errors=True)
    result.seconds = round(time.monotonic() - started, 2)
    return result


def _page_checks(result: CanaryValidation, canary: Canary, manager: TreeManager, baseline: Baseline,
                 tier: str, label: str, files: dict[str, bytes] | None = None) -> list[str]:
    """The judge entries' page checks on the baseline plus ``files`` (hidden/ overlaid, as in a
    verification tree): why each failing one fails. A check that cannot run (no browser) is a
    warning, and counts as neither passing nor failing."""
    if not any(spec.checks for spec in canary.verify.judge):
        return []
    failing, not_run = _run_page_checks(canary, manager, baseline, tier, files)
    result.warnings += [f"{label}: page check not run: {why}" for why in not_run]
    result.page_lines += [f"{label}: {'FAILS' if failing else 'passes'}"]
    result.page_lines += [f"  {problem}" for problem in failing]
    return failing


def _run_page_checks(canary: Canary, manager: TreeManager, baseline: Baseline, tier: str,
                     files: dict[str, bytes] | None) -> tuple[list[str], list[str]]:
    """(why each failing page check fails, why one could not run) on the baseline plus ``files``."""
    specs = [spec for spec in canary.verify.judge if spec.checks]
    tree = manager.create_worktree(baseline, "pages")
    try:
        for relative, data in {**(files or {}), **canary.files.hidden}.items():
            safe_fs.write_file(tree, relative, data)
        return page_checks()(specs, tree, tier == "bubblewrap")
    finally:
        manager.remove_worktree(baseline, tree)


def _null_control(result: CanaryValidation, canary: Canary, manager: TreeManager,
                  baseline: Baseline, tier: str, pages_fail: bool = False) -> None:
    verification = _verify(canary, manager, baseline, "null", tier)
    if canary.verify.run:
        fails = not verification.checks_passed
    else:
        fails = not verification.qualifying_change
    fails = fails or pages_fail  # a judge entry's page check fails on the untouched repo
    result.null_control = "fails" if fails else "PASSES"
    if not fails:
        result.problems.append("null control: the untouched repo passes the checks")
    elif any(check.timed_out for check in verification.checks):
        result.warnings.append("null control: a check timed out on the untouched repo (slow canary)")


def _reference(result: CanaryValidation, canary: Canary, manager: TreeManager,
               baseline: Baseline, tier: str, require_solution: bool) -> Verification | None:
    answer_file = canary.directory / REFERENCE_ANSWER
    if canary.verify.answer and not answer_file.is_file():
        result.reference = "missing"
        message = f"no {REFERENCE_ANSWER}: nothing proves an answer can pass (verify.answer)"
        (result.problems if require_solution else result.warnings).append(message)
        return None
    if not canary.verify.answer and not _has_files(canary.solution_dir):
        result.reference = "missing"
        message = "no solution/: nothing proves the canary can pass"
        (result.problems if require_solution else result.warnings).append(message)
        return None
    files = _directory_files(canary.solution_dir) if _has_files(canary.solution_dir) else {}
    answer = answer_file.read_text(encoding="utf-8") if canary.verify.answer else ""
    verification = _verify(canary, manager, baseline, "reference", tier, files=files, answer=answer)
    found = []
    change = verification.change
    reasons = change.protected_reasons()
    if change.ignored_paths:
        found.append("reference: solution/ changes paths outside the writable set, which never "
                     f"reach the verification tree: {change.ignored_paths} - widen verify.writable")
    if reasons:
        found.append("reference: solution/ changes protected paths, which never reach the "
                     "verification tree: " + ", ".join(f"{p} ({r})" for p, r in reasons.items())
                     + " - list them in verify.allow_changed if the task really changes them")
    if verification.error:
        found.append(f"reference: verification error: {verification.error}")
    if canary.verify.answer and not answer.strip():
        found.append(f"reference: {REFERENCE_ANSWER} is empty")
    elif not verification.qualifying_change and not reasons:
        found.append("reference: solution/ changes no file matching expect_changed "
                     f"{canary.verify.expect_changed} (it changes {change.files_changed or 'nothing'})")
    if verification.unchanged_violations:
        found.append("reference: solution/ changes files that must stay unchanged: "
                     f"{verification.unchanged_violations}")
    failing = verification.failing_check
    if failing is not None:
        status = "timed out" if failing.timed_out else f"exited {failing.exit_code}"
        if failing.evidence_problem:
            status += f" ({failing.evidence_problem})"
        found.append(f"reference: check `{failing.command}` {status}: {_tail(failing.output_tail)}")
    elif verification.shortfall:
        found.append(f"reference: {verification.shortfall}")
    result.reference = "FAILS" if found else "passes"
    if not found and any(c.tests is not None for c in verification.checks):
        result.tests_passed = verification.tests_passed
    result.problems.extend(found)
    return verification


def _integrity(result: CanaryValidation, canary: Canary, manager: TreeManager, baseline: Baseline,
               tier: str, require_solution: bool, reference: Verification | None) -> None:
    """The honest path (the reference) must trip no cheat rule; the cheat path must be labelled
    a cheat, as the harness would label an attempt that made those tool calls."""
    spec = canary.integrity
    if spec is None:
        return
    repo = integrity.repo_contents(canary.files)
    result.integrity = "labelled"
    if reference is not None:
        findings = integrity.detect(spec, integrity.changed_files(reference.change, repo), [])
        if findings:
            result.integrity = "HONEST PATH FLAGGED"
            result.problems.append("integrity: the reference solution/ trips the canary's own cheat "
                                   "rules: " + "; ".join(f.describe() for f in findings))
        result.integrity_lines.append(
            f"honest path (solution/): {result.reference}, no cheat seen" if not findings else
            f"honest path (solution/): {result.reference}, FLAGGED ({', '.join(f.behaviour for f in findings)})")
    if not spec.cheat_path:
        result.integrity = "missing"
        message = "integrity: no [[integrity.cheat_path]]: nothing proves the harness labels the cheat"
        (result.problems if require_solution else result.warnings).append(message)
        return
    try:
        files = integrity.cheat_path_files(spec.cheat_path, repo)
    except integrity.CheatPathError as exc:
        result.integrity = "NOT LABELLED"
        result.problems.append(f"integrity: {exc}")
        return
    verification = _verify(canary, manager, baseline, "cheat", tier, files=files)
    change = verification.change
    honest = classify("final", checks_passed=verification.checks_passed,
                      qualifying_change=verification.qualifying_change,
                      touched_protected=bool(change.protected),
                      unchanged_ok=not verification.unchanged_violations)
    findings = integrity.detect(spec, integrity.changed_files(change, repo),
                                integrity.cheat_path_uses(spec.cheat_path))
    outcome = with_cheats(honest, bool(findings))
    played = ", ".join(f"{step.tool} {step.path}" for step in spec.cheat_path)
    behaviours = sorted({f.behaviour for f in findings})
    result.integrity_lines.append(f"cheat path ({played}): {outcome.value}"
                                  + (f" - {', '.join(behaviours)}" if behaviours else ""))
    result.integrity_lines += [f"  seen: {f.describe()}" for f in findings]
    if outcome.value not in ("cheated", "tampered") or not behaviours:
        result.integrity = "NOT LABELLED"
        result.problems.append(f"integrity: the cheat path ends {outcome.value} with "
                               f"{'no cheat rule matched' if not behaviours else ', '.join(behaviours)}"
                               ": the harness would not label it a cheat of this canary")


def _cheaters(result: CanaryValidation, canary: Canary, manager: TreeManager,
              baseline: Baseline, tier: str) -> None:
    """Every generic exploit that fits, applied to the untouched repo, must fail. An exploit whose
    every file is protected never reaches the verification tree and leaves no qualifying change,
    so it cannot pass: only those with an applied change are run."""
    if result.null_control != "fails" or not canary.verify.run:
        # An untouched repo that passes already says everything; with no checks, any change to
        # an expected file passes by definition (warned about above).
        result.cheaters = "n/a" if not canary.verify.run else result.cheaters
        return
    targets = existing_changed_files(canary.repo_dir, canary.verify.expect_changed)
    passing = []
    # An answer canary's exploits come with an answer that says nothing: the task, repeated.
    echo = canary.prompt if canary.verify.answer else ""
    exploits = generic_exploits(targets)
    solution = sorted(canary.files.solution)
    exploits += created_file_exploits([p for p in solution if p not in baseline.manifest])
    if canary.verify.answer:
        exploits.insert(0, Exploit("an answer that repeats the prompt", {}))
    for number, exploit in enumerate(exploits):
        files = exploit_bytes(exploit, canary.repo_dir)
        if files and all(_protected(canary, baseline, path) for path in files):
            continue
        verification = _verify(canary, manager, baseline, f"exploit{number}", tier, files=files,
                               answer=echo)
        if verification.checks_passed and verification.qualifying_change:
            # A judge entry's page checks fail an attempt as a check does: an exploit must pass
            # them too (a model-judged entry has no model here, and stays unproven).
            if any(spec.checks for spec in canary.verify.judge) and \
                    _run_page_checks(canary, manager, baseline, tier, files)[0]:
                continue
            passing.append(exploit.name)
    result.cheaters = "PASS" if passing else "fail"
    for name in passing:
        result.problems.append(f"cheater control: the exploit '{name}' passes the checks")


def _protected(canary: Canary, baseline: Baseline, path: str) -> bool:
    return protection_rules(canary, baseline).reason(path) is not None


# -- the subcommand --------------------------------------------------------------------------------

def _label(result: CanaryValidation) -> str:
    return result.canary_id or str(result.path)


def cmd_validate(args: argparse.Namespace) -> int:
    paths = args.paths or [Path(".")]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    canaries = find_canaries(paths)
    if not canaries:
        raise UsageError(f"no {CANARY_FILENAME} found under {', '.join(map(str, paths))}")
    # A usage error before any work, not once per canary.
    print(f"validating {len(canaries)} canaries (sandbox: {sandbox_tier(args.sandbox)})",
          file=sys.stderr, flush=True)
    results = []
    for number, path in enumerate(canaries, start=1):
        result = validate_canary(path, sandbox=args.sandbox, require_solution=args.require_solution)
        results.append(result)
        verdict = "ok" if result.ok else f"{len(result.problems)} problem(s)"
        print(f"[{number}/{len(canaries)}] {_label(result)}: {verdict} ({result.seconds:.1f} s)",
              file=sys.stderr, flush=True)
    rows = [[_label(r), r.tier or "-", r.null_control, r.reference, r.cheaters, r.integrity,
             f"{r.seconds:.1f}", str(len(r.problems)) if r.problems else "-"] for r in results]
    headers = ["canary", "tier", "null control", "reference", "cheaters", "integrity", "seconds", "problems"]
    print("\n".join(_table(headers, rows, right={6, 7})))
    if args.write_expect_tests:
        for r in results:
            if r.ok and r.tests_passed:
                write_expect_tests(r.path, r.tests_passed)
    print("\nwritable sets (changes elsewhere never reach the checks):")
    for r in results:
        if r.writable:
            print(f"  {_label(r)}: {'; '.join(r.writable)}")
    for title, attribute in (("page checks (judge entries' checks on the page, no model asked)", "page_lines"),
                             ("integrity (the honest path, and the cheat path the harness must label)",
                              "integrity_lines")):
        shown = [r for r in results if getattr(r, attribute)]
        if shown:
            print(f"\n{title}:")
            for r in shown:
                print(f"  {_label(r)}:")
                for line in getattr(r, attribute):
                    print(f"    {line}")
    for title, attribute in (("problems", "problems"), ("warnings", "warnings")):
        notes = [(r, note) for r in results for note in getattr(r, attribute)]
        if notes:
            print(f"\n{title}:")
            for r, note in notes:
                print(f"  {r.path}: {note}")
    bad = sum(1 for r in results if not r.ok)
    print(f"\n{len(results)} canaries: {len(results) - bad} ok, {bad} with problems")
    return 1 if bad else 0


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate", help="prove each canary can fail (untouched repo) and can pass (solution/)")
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                        help="canary.toml files or directories to search (default: .)")
    parser.add_argument("--require-solution", action="store_true",
                        help="a canary without solution/ is a problem, not a warning")
    parser.add_argument("--write-expect-tests", action="store_true",
                        help="write the reference's passing-test count into each valid canary.toml "
                             "as verify.expect_tests")
    parser.add_argument("--sandbox", choices=SANDBOXES, default="auto",
                        help="where checks run, as --agentbench-sandbox (default: auto)")
    parser.set_defaults(func=cmd_validate)
