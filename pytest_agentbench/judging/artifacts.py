"""An artifact captured in the clean verification tree, ready for a model: text, and images for
a vision model. Captured while the tree exists (verify.run_checks calls back into here); the
models are asked afterwards.

When an artifact cannot be captured, :class:`NotCaptured` says whose doing that is (``fault``),
which decides the judge record's verdict (records.py): :data:`MODEL` (what the model under test
left is missing or unusable: the check fails), :data:`TAMPERED` (it put a link where the artifact
goes) or :data:`INFRASTRUCTURE` (the harness, the browser, the canary's own setup: no verdict)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_agentbench.judging.captured import (
    IMAGE_CAP,
    IMAGE_SUFFIXES,
    INFRASTRUCTURE,
    MODEL,
    OUTPUT_TAIL,
    TAMPERED,
    TEXT_CAP,
    Artifact,
    NotCaptured,
    inside,
    locate,
)
from pytest_agentbench.judging.page import LOAD_TIMEOUT, capture_page
from pytest_agentbench.schemas.judge import JudgeSpec

if TYPE_CHECKING:
    from pytest_agentbench.sandbox.commands import Jail

__all__ = ["INFRASTRUCTURE", "MODEL", "TAMPERED", "Artifact", "NotCaptured", "capture", "inside", "locate"]


def capture(spec: JudgeSpec, tree: Path, run: Callable[[str], tuple[int | None, str]],
            diff: Callable[[], str], jail: Jail | None = None, answer: str | None = None,
            links: Mapping[str, str] | None = None,
            phases: Mapping[str, str] | None = None) -> Artifact:
    """``run(command)`` runs a command in the tree, in the sandbox (exit code, None when it timed
    out; output); ``diff()`` is the attempt's unified diff; ``jail`` runs the browser in the
    sandbox; ``answer`` is the attempt's final answer (None: the canary is not a verify.answer
    one); ``links`` the links the model made in its own tree (path → target); ``phases`` a
    pipeline's phase outputs by name (``phase:NAME``: what the phase answered, its JSON as the
    model wrote it)."""
    links = links or {}
    if spec.kind == "phase":
        text = (phases or {}).get(spec.target)
        if text is None or not text.strip():
            # The phase was skipped, cut off or answered nothing: the model left nothing to judge.
            return Artifact(f"the output of phase {spec.target}",
                            error=f"phase {spec.target!r} left no output", fault=MODEL)
        return Artifact(f"the output of phase {spec.target}", text)
    if spec.kind == "diff":
        return Artifact("the change the agent made (unified diff)", diff() or "(no change)")
    if spec.kind == "answer":
        if answer is None:  # the canary's setup, not the model's doing
            return Artifact("the final answer", error="artifact 'answer' needs verify.answer = true",
                            fault=INFRASTRUCTURE)
        return Artifact("the agent's final answer", answer or "(no answer)")
    try:
        if spec.kind == "command":
            return _command(spec.target, run)
        if spec.kind == "file":
            return _file(tree, spec.target, links)
        return capture_page(spec.target, tree, jail, spec.serve, links,
                            load_timeout=min(LOAD_TIMEOUT, spec.timeout),
                            keep_blank="not_blank" in spec.checks)
    except NotCaptured as exc:
        return Artifact.not_captured(spec.artifact, exc)


def _command(command: str, run: Callable[[str], tuple[int | None, str]]) -> Artifact:
    code, output = run(command)
    if code == 0:
        return Artifact(f"the output of `{command}` (exit code 0)", output)
    # The command runs what the model made, in the tree the checks passed in: its failing is
    # the model's, and a failed command's output is no artifact to judge.
    status = "timed out" if code is None else f"exited {code}"
    tail = output[-OUTPUT_TAIL:].strip()
    raise NotCaptured(f"`{command}` {status}" + (f"; its output ends: {tail}" if tail else ""), MODEL)


def _file(tree: Path, relative: str, links: Mapping[str, str]) -> Artifact:
    path = locate(tree, relative, "file", links)
    mime = IMAGE_SUFFIXES.get(path.suffix.lower())
    if mime is not None:
        data = path.read_bytes()
        if len(data) > IMAGE_CAP:
            raise NotCaptured(f"image {relative!r} is over {IMAGE_CAP} bytes", MODEL)
        if not data:
            raise NotCaptured(f"image {relative!r} is empty", MODEL)
        return Artifact(f"the image {relative}", images=[(f"Image {relative}:", mime, data)])
    with path.open("rb") as handle:
        data = handle.read(TEXT_CAP * 4 + 1)
    # Said outright: a describer given nothing at all tends to describe something.
    return Artifact(f"the file {relative}", data.decode("utf-8", "replace") or "(the file is empty)")
