"""The ``[[verify.judge]]`` section of ``canary.toml`` (a contract):

    artifact = "file:report.txt"     # or "command:python render.py", "diff", "answer", "page:site/index.html"
    criteria = "All three pricing cards are fully visible, with their buttons."
    describer = "qwen3-vl"           # registry model names
    judge = "qwen3:32b"
    mode = "describe-then-judge"     # or "direct" (the judge model looks at the artifact itself)
    severity = 1

Beyond the contract: ``describer`` or ``judge`` may be ``"{model}"``, the attempt's own model (the
model under test describes or judges: its approval bias measured per model), and ``expect =
"fail"`` makes a calibration check that passes when the verdict is fail (a known-broken artifact).

Imports nothing of the harness: schemas/canary.py imports it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ARTIFACT_KINDS = ("file:", "command:", "page:", "phase:")
# Artifacts named by one word: the attempt's diff, and its final answer (a verify.answer canary's).
WHOLE_ARTIFACTS = ("diff", "answer")
SUBJECT = "{model}"  # as describer or judge: the model under test of the attempt


class JudgeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    artifact: str
    criteria: str
    describer: str | None = None  # required by describe-then-judge, unused by direct
    judge: str
    mode: Literal["describe-then-judge", "direct"] = "describe-then-judge"
    severity: int = Field(default=1, ge=1)
    # Screenshots go to the model as image_url parts; false for a text-only model (it then gets
    # the page's text and logs only).
    images: bool = True
    # Seconds for the check's models, and at most this (and at most 15) for a page to load and
    # again to settle, per viewport.
    timeout: float = Field(default=300, gt=0)
    # A command that serves a `page:http://...` artifact, started in the verification tree beside
    # the browser and stopped after it; "{port}" in it and in the URL is a free port.
    serve: str | None = None
    # The verdict that makes the check pass: "fail" for a calibration artifact known to be broken.
    expect: Literal["pass", "fail"] = "pass"

    @field_validator("artifact")
    @classmethod
    def _known_artifact(cls, value: str) -> str:
        if value in WHOLE_ARTIFACTS:
            return value
        kind = next((k for k in ARTIFACT_KINDS if value.startswith(k)), None)
        if kind is None:
            raise ValueError(f"{value!r}: must be 'diff', 'answer' or start with one of {list(ARTIFACT_KINDS)}")
        target = value[len(kind):].strip()
        if not target:
            raise ValueError(f"{value!r}: nothing after {kind!r}")
        local = kind == "file:" or (kind == "page:" and not target.startswith(("http://", "https://")))
        if local and (target.startswith("/") or ".." in target.split("/")):
            # What the model left is read from the verification tree, and only from there.
            raise ValueError(f"{value!r}: a path relative to the repository, inside it")
        return value

    @field_validator("criteria", "judge")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("describer", "judge")
    @classmethod
    def _a_name_or_the_subject(cls, value: str | None) -> str | None:
        if value is not None and "{" in value and value != SUBJECT:
            raise ValueError(f"{value!r}: a registry model name, or {SUBJECT!r} for the model under test")
        return value

    def models(self) -> set[str]:
        """The registry names this check asks (the model under test is no registry name)."""
        return {name for name in (self.describer, self.judge) if name and name != SUBJECT}

    @model_validator(mode="after")
    def _describer_for_two_steps(self) -> JudgeSpec:
        if self.mode == "describe-then-judge" and not (self.describer or "").strip():
            raise ValueError("mode 'describe-then-judge' needs a describer model "
                             "(or mode = \"direct\")")
        return self

    @model_validator(mode="after")
    def _serve_needs_a_url(self) -> JudgeSpec:
        if self.serve is not None and not (self.kind == "page" and self.target.startswith(("http://", "https://"))):
            raise ValueError("serve needs a page:http://... artifact (the URL it serves)")
        return self

    @property
    def kind(self) -> str:
        return self.artifact if self.artifact in WHOLE_ARTIFACTS else self.artifact.split(":", 1)[0]

    @property
    def target(self) -> str:
        return "" if self.artifact in WHOLE_ARTIFACTS else self.artifact.split(":", 1)[1].strip()
