"""Deterministic page checks: what the browser captured while loading a ``page:`` artifact
(judging/page.py) decides them, no model does.

- ``no_console_errors``: the page logged no uncaught exception, no ``console.error`` or
  ``console.assert`` failure and no failed request (a missing file, an HTTP 4xx/5xx, a refused
  connection) at any viewport;
- ``not_blank``: the page shows visible text or draws something (an image, a canvas, a
  background, a border...) at every viewport.

A judge entry runs its ``checks`` before asking any model (judging/ask.py): a failing one fails
the check (verdict ``check_failed``, the model's fault) and no model is asked. ``agentbench
validate`` runs them on the null control and the reference (:func:`validation_problems`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from pytest_agentbench.judging.captured import INFRASTRUCTURE, Artifact
from pytest_agentbench.schemas.judge import JudgeSpec
from pytest_agentbench.schemas.judge_records import PageCheckRecord

SHOWN = 5  # distinct problems quoted in a reason


def _grouped(problems: list[str]) -> list[str]:
    """``desktop: X`` and ``phone: X`` as ``X (desktop, phone)``, in the order first seen."""
    seen: dict[str, list[str]] = {}
    for problem in problems:
        viewport, _, what = problem.partition(": ")
        seen.setdefault(what or problem, []).append(viewport if what else "")
    return [f"{what} ({', '.join(v for v in viewports if v)})" if any(viewports) else what
            for what, viewports in seen.items()]


def check(name: str, artifact: Artifact) -> PageCheckRecord:
    """One page check on a captured page."""
    if name == "no_console_errors":
        grouped = _grouped(artifact.problems)
        if not grouped:
            return PageCheckRecord(name=name, passed=True)
        more = f"; and {len(grouped) - SHOWN} more" if len(grouped) > SHOWN else ""
        count = f"{len(grouped)} problem{'s' * (len(grouped) != 1)}"
        return PageCheckRecord(name=name, passed=False,
                               reason=f"the page logged {count} while loading: "
                                      + "; ".join(grouped[:SHOWN]) + more)
    if name == "not_blank":
        blank = artifact.blank or []
        if not blank:
            return PageCheckRecord(name=name, passed=True)
        where = " and ".join(blank)
        return PageCheckRecord(name=name, passed=False,
                               reason=f"the page is blank at the {where} viewport"
                                      f"{'s' * (len(blank) != 1)}: no visible text and nothing drawn")
    raise ValueError(f"unknown page check {name!r}")


def run_checks(spec: JudgeSpec, artifact: Artifact) -> list[PageCheckRecord]:
    """The entry's checks, in order, on its captured page (which has no capture error)."""
    return [check(name, artifact) for name in spec.checks]


def failure_reason(results: list[PageCheckRecord]) -> str:
    """The reason a record gives for its failing checks ('' when none failed)."""
    return "; ".join(f"{r.name}: {r.reason}" for r in results if not r.passed)


def validation_problems(specs: list[JudgeSpec], tree: Path, jailed: bool) -> tuple[list[str], list[str]]:
    """``agentbench validate``: every entry's page checks on ``tree`` (the untouched repository or
    the reference solution), the browser in the checks' jail when ``jailed``. Returns (why each
    failing check fails, why a check could not be run: no browser, say)."""
    from pytest_agentbench.judging.artifacts import capture
    from pytest_agentbench.judging.captured import NotCaptured
    from pytest_agentbench.sandbox.commands import Jail, Sandbox, command_env

    failing: list[str] = []
    not_run: list[str] = []
    with tempfile.TemporaryDirectory(prefix="agentbench-page-checks-") as scratch:
        home = Path(scratch)
        env = command_env(home)
        browser = Sandbox(writable=[tree, home], readonly=[tree / ".git"], jail=True)
        jail = Jail(lambda argv: browser.jail_argv(tree, dict(env), argv) if jailed else argv,
                    home, dict(env), tree)
        for spec in specs:
            if not spec.checks:
                continue
            try:
                artifact = capture(spec, tree, lambda command: (None, ""), lambda: "", jail)
            except NotCaptured as exc:  # pragma: no cover - capture turns these into artifacts
                artifact = Artifact.not_captured(spec.artifact, exc)
            if artifact.error:
                (not_run if artifact.fault == INFRASTRUCTURE else failing).append(
                    f"{spec.artifact}: {artifact.error}")
                continue
            failing += [f"{spec.artifact}: {r.name}: {r.reason}"
                        for r in run_checks(spec, artifact) if not r.passed]
    return failing, not_run
