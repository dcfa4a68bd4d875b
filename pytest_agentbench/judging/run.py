"""Judge checks of one verification: artifacts captured in the tree (while it exists), then the
models asked (after it is gone). attempt/verify.py calls these two."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_agentbench.judging.artifacts import INFRASTRUCTURE, Artifact, capture
from pytest_agentbench.judging.ask import JudgeUnavailable, run_judge
from pytest_agentbench.sandbox.commands import Jail
from pytest_agentbench.schemas.judge import SUBJECT, JudgeSpec
from pytest_agentbench.schemas.judge_records import JudgeRecord

if TYPE_CHECKING:
    from pytest_agentbench.judging.clients import JudgeModels
    from pytest_agentbench.schemas.models import ModelSpec
    from pytest_agentbench.servers.client import ChatClient


def capture_all(specs: list[JudgeSpec], tree: Path, run: Callable[[str], tuple[int | None, str]],
                diff: Callable[[], str], jail: Jail | None = None,
                answer: str | None = None, links: Mapping[str, str] | None = None,
                phases: Mapping[str, str] | None = None) -> list[Artifact]:
    """Each check's artifact from ``tree``; ``links``: the links the model made in its own tree
    (path → target), which never reach ``tree`` but make an artifact at or under them tampered."""
    artifacts = []
    for spec in specs:
        try:
            artifacts.append(capture(spec, tree, run, diff, jail, answer, links, phases))
        except OSError as exc:
            # Reading a regular file the harness wrote, starting a process: the host's trouble.
            artifacts.append(Artifact(spec.artifact, error=f"{exc.__class__.__name__}: {exc}",
                                      fault=INFRASTRUCTURE))
    return artifacts


def judge_all(specs: list[JudgeSpec], artifacts: list[Artifact], models: JudgeModels,
              log: Callable[[dict[str, Any]], None] | None = None,
              subject: ModelSpec | None = None) -> list[JudgeRecord]:
    """Every check in order (all of them, so the report shows each verdict); ``log`` gets each
    exchange with a model (the attempt's transcript); ``subject`` is the attempt's model, which
    ``"{model}"`` names."""
    def client_for(name: str) -> ChatClient:
        if name != SUBJECT:
            return models.client(name)
        if subject is None:
            raise JudgeUnavailable(f"{SUBJECT!r}: no model under test here")
        return models.client_for(subject)

    subject_name = subject.name if subject is not None else None
    return [run_judge(spec, artifact, client_for, log, subject_name)
            for spec, artifact in zip(specs, artifacts)]
