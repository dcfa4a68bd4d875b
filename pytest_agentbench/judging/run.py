"""Judge checks of one verification: artifacts captured in the tree (while it exists), then the
models asked (after it is gone). verify.py calls these two."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pytest_agentbench.judging.artifacts import Artifact, capture
from pytest_agentbench.judging.ask import JudgeUnavailable, run_judge
from pytest_agentbench.judging.clients import resolver
from pytest_agentbench.judging.page import Jail
from pytest_agentbench.judging.records import JudgeRecord
from pytest_agentbench.judging.spec import JudgeSpec


def can_judge() -> bool:
    """Whether models can be asked here (a benchmark session runs in this process)."""
    return resolver() is not None


def capture_all(specs: list[JudgeSpec], tree: Path, run: Callable[[str], tuple[int | None, str]],
                diff: Callable[[], str], jail: Jail | None = None) -> list[Artifact]:
    artifacts = []
    for spec in specs:
        try:
            artifacts.append(capture(spec, tree, run, diff, jail))
        except OSError as exc:
            artifacts.append(Artifact(spec.artifact, error=f"{exc.__class__.__name__}: {exc}"))
    return artifacts


def judge_all(specs: list[JudgeSpec], artifacts: list[Artifact]) -> list[JudgeRecord]:
    """Every check in order (all of them, so the report shows each verdict)."""
    current = resolver()

    def client_for(name: str):
        if current is None:
            raise JudgeUnavailable("no benchmark session in this process to resolve models")
        return current.client(name)

    return [run_judge(spec, artifact, client_for) for spec, artifact in zip(specs, artifacts)]
