"""How far a multi-file attempt got: a model that lands 4 of 5 files repeatedly is hitting a
stamina or budget ceiling, not a capability wall.

Each attempt of a canary with ``expect_changed`` patterns records ``progress = {"expected": E,
"changed": C}``: E files — the reference solution's files the patterns match, or the patterns
themselves when there is no solution — and C of them in the change that reached verification
(protected paths and changes outside the writable set left out, as for the verdict). The summary
shows the mean per model on the discriminator canaries ("4.2 of 5 files").
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any

from pytest_agentbench.report.summary import DISCRIMINATOR, INFRA, group_by
from pytest_agentbench.schemas.results import AttemptResult

if TYPE_CHECKING:
    from pytest_agentbench.trees.tree_diff import TreeChange


def expect_progress(change: TreeChange, expect_changed: list[str],
                    solution: list[str] | None = None) -> dict[str, int] | None:
    """``{"expected", "changed"}``; None when the canary names no ``expect_changed``. The
    expected files are the reference solution's files matching the patterns (a glob such as
    ``providers/*.py`` is the five files the task changes, not one), else the patterns."""
    if not expect_changed:
        return None
    files = sorted(p for p in (solution or []) if any(fnmatch.fnmatch(p, g) for g in expect_changed))
    if files:
        applied = set(change.applied_paths)
        return {"expected": len(files), "changed": sum(1 for p in files if p in applied)}
    changed = sum(1 for pattern in expect_changed if change.matching([pattern], applied_only=True))
    return {"expected": len(expect_changed), "changed": changed}


def progress_rows(results: list[AttemptResult]) -> list[dict[str, Any]]:
    """Per model × variant: mean progress over its scored discriminator attempts that have one."""
    pool = [r for r in results if DISCRIMINATOR in r.tags and r.progress and r.outcome != INFRA]
    rows = []
    for (model, variant), group in group_by(pool, "model", "variant").items():
        attempts = group.results
        rows.append({
            "model": model, "variant": variant, "attempts": len(attempts),
            "mean_changed": round(sum(r.progress["changed"] for r in attempts) / len(attempts), 2),
            "mean_expected": round(sum(r.progress["expected"] for r in attempts) / len(attempts), 2),
            "complete": sum(1 for r in attempts if r.progress["changed"] == r.progress["expected"]),
        })
    return rows


def progress_line(row: dict[str, Any]) -> str:
    """``m: 4.2 of 5 files (3 attempts, 1 with every file)``."""
    label = row["model"] if row["variant"] == "base" else f"{row['model']}/{row['variant']}"
    plural = "s" * (row["attempts"] != 1)
    return (f"{label}: {row['mean_changed']:g} of {row['mean_expected']:g} files "
            f"({row['attempts']} attempt{plural}, {row['complete']} with every file)")
