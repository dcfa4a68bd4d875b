"""How far a multi-file attempt got (issue 15, item 5; seed 001: "a model that lands 4 of 5 files
repeatedly is hitting a stamina/budget ceiling, not a capability wall").

Each attempt of a canary with ``expect_changed`` patterns records ``progress = {"expected": E,
"changed": C}``: E patterns, C of them matched by a file of the qualifying change (the change that
reached verification: protected paths left out, as for the verdict). The summary shows the mean
per model on the discriminator canaries ("4.2 of 5 files").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_agentbench.report.summary import DISCRIMINATOR, INFRA, group_by
from pytest_agentbench.results import AttemptResult

if TYPE_CHECKING:
    from pytest_agentbench.tree_diff import TreeChange


def expect_progress(change: TreeChange, expect_changed: list[str]) -> dict[str, int] | None:
    """``{"expected", "changed"}`` over the patterns; None when the canary names none."""
    if not expect_changed:
        return None
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
