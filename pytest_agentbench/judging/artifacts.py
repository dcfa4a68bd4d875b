"""An artifact captured in the clean verification tree, ready for a model: text, and images for
a vision model. Captured while the tree exists (verify.run_checks calls back into here); the
models are asked afterwards.

When an artifact cannot be captured, :class:`NotCaptured` says whose doing that is (``fault``),
which decides the judge record's verdict (records.py): :data:`MODEL` (what the model under test
left is missing or unusable: the check fails), :data:`TAMPERED` (it put a link where the artifact
goes) or :data:`INFRASTRUCTURE` (the harness, the browser, the canary's own setup: no verdict)."""

from __future__ import annotations

import base64
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_agentbench.judging.spec import JudgeSpec

if TYPE_CHECKING:
    from pytest_agentbench.judging.page import Jail

TEXT_CAP = 20_000  # characters of an artifact's text a model gets (the head: where pages start)
IMAGE_SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                  ".gif": "image/gif", ".webp": "image/webp"}
IMAGE_CAP = 8 << 20  # bytes: a bigger image is refused rather than sent
OUTPUT_TAIL = 600  # characters of a failing command artifact's output quoted in the reason

MODEL, TAMPERED, INFRASTRUCTURE = "model", "tampered", "infrastructure"


class NotCaptured(Exception):
    """The artifact is not there to judge; ``fault`` is whose doing that is."""

    def __init__(self, message: str, fault: str) -> None:
        super().__init__(message)
        self.fault = fault


@dataclass
class Artifact:
    label: str  # what it is, in words for the prompt
    text: str = ""
    images: list[tuple[str, str, bytes]] = field(default_factory=list)  # (caption, mime, data)
    problems: list[str] = field(default_factory=list)  # console errors, failed requests
    error: str = ""  # it could not be captured: the check cannot be judged
    fault: str = ""  # with an error: MODEL, TAMPERED or INFRASTRUCTURE

    @classmethod
    def not_captured(cls, label: str, exc: NotCaptured) -> Artifact:
        return cls(label, error=str(exc), fault=exc.fault)

    def parts(self, with_images: bool) -> list[dict]:
        """OpenAI content parts: the text, then each image as an ``image_url`` data URL."""
        parts: list[dict] = [{"type": "text", "text": self.as_text()}]
        if with_images:
            for caption, mime, data in self.images:
                parts.append({"type": "text", "text": caption})
                url = f"data:{mime};base64,{base64.b64encode(data).decode()}"
                parts.append({"type": "image_url", "image_url": {"url": url}})
        return parts

    def as_text(self) -> str:
        text = self.text if len(self.text) <= TEXT_CAP else self.text[:TEXT_CAP] + "\n[... cut]"
        return f"Artifact: {self.label}\n\n{text}".rstrip()


def inside(tree: Path, relative: str) -> Path | None:
    """``relative`` under ``tree`` without leaving it through '..' or a link; None otherwise."""
    path = (tree / relative)
    try:
        resolved = path.resolve(strict=True)
        resolved.relative_to(tree.resolve())
    except (OSError, ValueError):
        return None
    return resolved if resolved.is_file() else None


def locate(tree: Path, relative: str, what: str, links: Mapping[str, str]) -> Path:
    """The regular file ``relative`` of the verification tree, or :class:`NotCaptured` saying
    whose fault it is that there is none. ``links``: the links the model under test made in its
    tree (path → target); they never reach the verification tree, so they are looked up here."""
    normal = posixpath.normpath(relative)
    parts = normal.split("/")
    for end in range(1, len(parts) + 1):
        prefix = "/".join(parts[:end])
        if prefix in links:
            # A link is an indirection the model chose where the harness reads a result from
            # (a secret outside the tree, another file passed off as this one).
            via = "" if prefix == normal else f" (through {prefix})"
            raise NotCaptured(f"{what} {relative!r} is a link{via} to {links[prefix]!r}: an artifact "
                              "must be a regular file", TAMPERED)
    path = inside(tree, normal)
    if path is not None:
        return path
    try:
        resolved = (tree / normal).resolve()
        resolved.relative_to(tree.resolve())
    except (OSError, RuntimeError, ValueError):
        # Only the canary's own repository can have a link here, and collection refuses one
        # that leaves the tree: reaching this is the harness's fault, not the model's.
        raise NotCaptured(f"{what} {relative!r} leads out of the verification tree",
                          INFRASTRUCTURE) from None
    if not resolved.exists():
        raise NotCaptured(f"there is no {what} {relative!r} in the tree", MODEL)
    kind = "a directory" if resolved.is_dir() else "not a regular file"
    raise NotCaptured(f"{what} {relative!r} is {kind}: an artifact must be a regular file", MODEL)


def capture(spec: JudgeSpec, tree: Path, run: Callable[[str], tuple[int | None, str]],
            diff: Callable[[], str], jail: Jail | None = None, answer: str | None = None,
            links: Mapping[str, str] | None = None) -> Artifact:
    """``run(command)`` runs a command in the tree, in the sandbox (exit code, None when it timed
    out; output); ``diff()`` is the attempt's unified diff; ``jail`` runs the browser in the
    sandbox; ``answer`` is the attempt's final answer (None: the canary is not a verify.answer
    one); ``links`` the links the model made in its own tree (path → target)."""
    links = links or {}
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
        from pytest_agentbench.judging.page import LOAD_TIMEOUT, capture_page

        return capture_page(spec.target, tree, jail, spec.serve, links,
                            load_timeout=min(LOAD_TIMEOUT, spec.timeout))
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
