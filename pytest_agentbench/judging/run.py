"""Judge checks of one verification: artifacts captured in the tree (while it exists), then the
models asked (after it is gone). verify.py calls these two."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_agentbench.judging.artifacts import Artifact, capture
from pytest_agentbench.judging.ask import run_judge
from pytest_agentbench.judging.page import Jail
from pytest_agentbench.judging.records import JudgeRecord
from pytest_agentbench.judging.spec import JudgeSpec

if TYPE_CHECKING:
    from pytest_agentbench.judging.clients import JudgeModels


def capture_all(specs: list[JudgeSpec], tree: Path, run: Callable[[str], tuple[int | None, str]],
                diff: Callable[[], str], jail: Jail | None = None,
                answer: str | None = None) -> list[Artifact]:
    artifacts = []
    for spec in specs:
        try:
            artifacts.append(capture(spec, tree, run, diff, jail, answer))
        except OSError as exc:
            artifacts.append(Artifact(spec.artifact, error=f"{exc.__class__.__name__}: {exc}"))
    return artifacts


def judge_all(specs: list[JudgeSpec], artifacts: list[Artifact], models: JudgeModels,
              log: Callable[[dict[str, Any]], None] | None = None) -> list[JudgeRecord]:
    """Every check in order (all of them, so the report shows each verdict); ``log`` gets each
    exchange with a model (the attempt's transcript)."""
    return [run_judge(spec, artifact, models.client, log) for spec, artifact in zip(specs, artifacts)]
