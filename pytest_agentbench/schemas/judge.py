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

A ``page:`` artifact may also carry deterministic page checks, run on what the browser captured
before any model is asked (:data:`PAGE_CHECKS`)::

    checks = ["no_console_errors", "not_blank"]

An entry with ``checks`` and no ``criteria`` and ``judge`` is a page check of its own: no model
is asked, and its record names :data:`CHECKS_ONLY` as its judge and ``"checks"`` as its mode.

Imports nothing of the harness: schemas/canary.py imports it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ARTIFACT_KINDS = ("file:", "command:", "page:", "phase:")
# Artifacts named by one word: the attempt's diff, and its final answer (a verify.answer canary's).
WHOLE_ARTIFACTS = ("diff", "answer")
SUBJECT = "{model}"  # as describer or judge: the model under test of the attempt
# Deterministic checks of a page: no uncaught exception, console error or failed request while it
# loads; visible text or something drawn at every viewport.
PageCheck = Literal["no_console_errors", "not_blank"]
PAGE_CHECKS: tuple[PageCheck, ...] = ("no_console_errors", "not_blank")
CHECKS_ONLY = "page checks"  # the judge a record of an entry that asks no model names


class JudgeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    artifact: str
    criteria: str | None = None  # with judge; both left out: an entry of page checks only
    describer: str | None = None  # required by describe-then-judge, unused by direct
    judge: str | None = None
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
    # Deterministic page checks (PAGE_CHECKS), run on the captured page before any model: a
    # failing one fails the check (verdict check_failed) and no model is asked.
    checks: list[PageCheck] = Field(default_factory=list)

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
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("checks")
    @classmethod
    def _each_once(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

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
    def _a_judge_or_page_checks(self) -> JudgeSpec:
        if self.checks and self.kind != "page":
            raise ValueError("checks need a page: artifact (they read what the browser logged "
                             "and drew while loading it)")
        if self.checks and self.expect == "fail":
            raise ValueError("checks fail the attempt whatever expect says: put a calibration "
                             "check (expect = \"fail\") on an entry of its own")
        if (self.criteria is None) != (self.judge is None):
            missing = "judge" if self.judge is None else "criteria"
            raise ValueError(f"criteria and judge go together: {missing} is missing")
        if self.judge is None:
            if not self.checks:
                raise ValueError("needs criteria and a judge model, or checks = "
                                 f"{list(PAGE_CHECKS)} on a page: artifact")
            if self.describer is not None:
                raise ValueError("a describer needs criteria and a judge (this entry asks no model)")
        return self

    @model_validator(mode="after")
    def _describer_for_two_steps(self) -> JudgeSpec:
        if self.judge is None:
            return self
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
    def asks_models(self) -> bool:
        """False for an entry of page checks only."""
        return self.judge is not None

    @property
    def record_mode(self) -> str:
        """The mode its record names: ``checks`` for an entry that asks no model."""
        return self.mode if self.asks_models else "checks"

    @property
    def kind(self) -> str:
        return self.artifact if self.artifact in WHOLE_ARTIFACTS else self.artifact.split(":", 1)[0]

    @property
    def target(self) -> str:
        return "" if self.artifact in WHOLE_ARTIFACTS else self.artifact.split(":", 1)[1].strip()
