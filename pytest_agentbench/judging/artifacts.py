"""An artifact captured in the clean verification tree, ready for a model: text, and images for
a vision model. Captured while the tree exists (verify.run_checks calls back into here); the
models are asked afterwards."""

from __future__ import annotations

import base64
from collections.abc import Callable
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


@dataclass
class Artifact:
    label: str  # what it is, in words for the prompt
    text: str = ""
    images: list[tuple[str, str, bytes]] = field(default_factory=list)  # (caption, mime, data)
    problems: list[str] = field(default_factory=list)  # console errors, failed requests
    error: str = ""  # it could not be captured: the check cannot decide

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


def capture(spec: JudgeSpec, tree: Path, run: Callable[[str], tuple[int | None, str]],
            diff: Callable[[], str], jail: Jail | None = None, answer: str | None = None) -> Artifact:
    """``run(command)`` runs a command in the tree, in the sandbox (exit code, output);
    ``diff()`` is the attempt's unified diff; ``jail`` runs the browser in the sandbox;
    ``answer`` is the attempt's final answer (None: the canary is not a verify.answer one)."""
    if spec.kind == "diff":
        return Artifact("the change the agent made (unified diff)", diff() or "(no change)")
    if spec.kind == "answer":
        if answer is None:
            return Artifact("the final answer", error="artifact 'answer' needs verify.answer = true")
        return Artifact("the agent's final answer", answer or "(no answer)")
    if spec.kind == "command":
        code, output = run(spec.target)
        return Artifact(f"the output of `{spec.target}` (exit code {code})", output)
    if spec.kind == "file":
        return _file(tree, spec.target)
    from pytest_agentbench.judging.page import capture_page

    return capture_page(spec.target, tree, jail, spec.serve)


def _file(tree: Path, relative: str) -> Artifact:
    path = inside(tree, relative)
    if path is None:
        return Artifact(f"file {relative}", error=f"file {relative!r} is not a file in the tree")
    mime = IMAGE_SUFFIXES.get(path.suffix.lower())
    if mime is not None:
        data = path.read_bytes()
        if len(data) > IMAGE_CAP:
            return Artifact(f"image {relative}", error=f"image {relative!r} is over {IMAGE_CAP} bytes")
        return Artifact(f"the image {relative}", images=[(f"Image {relative}:", mime, data)])
    with path.open("rb") as handle:
        data = handle.read(TEXT_CAP * 4 + 1)
    return Artifact(f"the file {relative}", data.decode("utf-8", "replace"))
