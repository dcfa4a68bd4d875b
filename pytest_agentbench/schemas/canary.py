"""The canary file format: a pydantic model plus loading with clear errors.

A canary is a directory holding ``canary.toml`` and its starting ``repo/``; ``hidden/`` and
``solution/`` are overlaid onto the worktree only after the agent has finished.
"""

from __future__ import annotations

import difflib
import sys
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.schemas.budget import BUDGET_KEYS, apply_budget
from pytest_agentbench.schemas.integrity import IntegritySpec
from pytest_agentbench.schemas.judge import JudgeSpec
from pytest_agentbench.schemas.pipeline import (
    IterationSpec,
    Phase,
    Prompt,
    phase_error_field,
    phase_line,
    pipeline_problems,
    pipeline_summary,
)

if TYPE_CHECKING:
    from pytest_agentbench.attempt.canary_files import CanaryFiles

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

# integrity: canaries whose honest path is hard and whose cheat is easy; what they measure is
# how often a model cheats (docs/verdicts.md, "Integrity: the propensity to cheat").
Tier = Literal["lite", "medium", "heavy", "integrity"]
TIERS: tuple[str, ...] = ("lite", "medium", "heavy", "integrity")


_CONTENT_HASHES: dict[tuple[Path, str], str] = {}  # per process: a canary is read once


class Budget(BaseModel):
    """Ceilings of one attempt. ``None`` means: use the tier default (or the CLI override)."""

    model_config = ConfigDict(extra="forbid")

    turns: int | None = Field(default=None, gt=0)
    tokens: int | None = Field(default=None, gt=0)
    seconds: float | None = Field(default=None, gt=0)


class ResolvedBudget(BaseModel):
    turns: int
    tokens: int
    seconds: float


# Tier defaults: heavy canaries need stamina, so they get proportionally more of everything.
TIER_BUDGETS: dict[str, ResolvedBudget] = {
    "lite": ResolvedBudget(turns=15, tokens=40_000, seconds=300),
    "medium": ResolvedBudget(turns=25, tokens=80_000, seconds=600),
    "heavy": ResolvedBudget(turns=40, tokens=160_000, seconds=1200),
    # Tight on purpose: the honest path should not fit comfortably, the cheat should.
    "integrity": ResolvedBudget(turns=10, tokens=40_000, seconds=300),
}


class ReviewCheck(BaseModel):
    """A review check (``[[verify.review]]``): it never decides acceptance; a failing
    one measures clean-up a reviewer would face, weighted by its severity (routing/review.py)."""

    model_config = ConfigDict(extra="forbid")

    run: str = Field(min_length=1)
    severity: int = Field(default=1, ge=0)


class Verify(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: list[str] = Field(default_factory=list)
    expect_changed: list[str] = Field(default_factory=list)
    expect_unchanged: list[str] = Field(default_factory=list)
    # Protected paths (conftest.py, ini files, shadowing modules...) this canary's task may change:
    # their change then reaches the verification tree (docs: "Protected paths").
    allow_changed: list[str] = Field(default_factory=list)
    # The writable set (attempt/writable.py): globs of the paths whose changes reach the verification
    # tree. None: derived from solution/, else from expect_changed.
    writable: list[str] | None = None
    # pytest plugins the checks load with -p (plugin autoload is off in the checks: an installed
    # plugin is named here, never found through an entry point in the tree).
    pytest_plugins: list[str] = Field(default_factory=list)
    # The result is what the agent committed and pushed to a local remote's main (attempt/push.py);
    # work left in the tree is `unpushed`.
    push: bool = False
    # Passing tests the reference solution shows in the pytest checks' reports together
    # (`agentbench validate --write-expect-tests`); None: at least one per pytest check.
    expect_tests: int | None = Field(default=None, gt=0)
    timeout: float = Field(default=120, gt=0)
    # The attempt's result is its final answer, not (only) a change to the tree: text roles such as
    # draft, reason and review. The checks read it at $AGENTBENCH_ANSWER; a judge check
    # can take artifact = "answer". the docs' "Answers as results".
    answer: bool = False
    review: list[ReviewCheck] = Field(default_factory=list)  # run after the checks, never gate
    # Each `run` check's severity: a check may be written {run = "...", severity = 3} (default 1);
    # filled from `run` by _check_tables, for the severity-weighted pass count (routing/).
    run_severity: list[int] = Field(default_factory=list, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _check_tables(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("run"), list):
            return data
        if "run_severity" in data:
            raise ValueError("run_severity: unknown field (give a check {run = ..., severity = N})")
        run, severity = [], []
        for number, entry in enumerate(data["run"]):
            if not isinstance(entry, dict):
                run.append(entry)
                severity.append(1)
                continue
            unknown = sorted(set(entry) - {"run", "severity"})
            if unknown or not isinstance(entry.get("run"), str):
                raise ValueError(f"run[{number}]: a check table takes run = \"COMMAND\" and an "
                                 f"optional severity = N" + (f" (unknown: {unknown})" if unknown else ""))
            level = entry.get("severity", 1)
            if not isinstance(level, int) or isinstance(level, bool) or level < 0:
                raise ValueError(f"run[{number}].severity: {level!r} is not a whole number >= 0")
            run.append(entry["run"])
            severity.append(level)
        return {**data, "run": run, "run_severity": severity}
    # model-judged checks, after `run` passes (judging/; the docs' "Judge checks").
    judge: list[JudgeSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _answer_artifact_needs_an_answer(self) -> Verify:
        if not self.answer and any(spec.artifact == "answer" for spec in self.judge):
            raise ValueError("judge: artifact 'answer' needs answer = true (the attempt's result "
                             "is then its final answer)")
        return self


class Canary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    tier: Tier
    tags: list[str] = Field(default_factory=list)
    prompt: Prompt  # not blank
    tools: list[str] | None = None
    # The escalate tool is offered in addition to the tools (docs: "The tools the model sees");
    # strict: `escalate = "no"` is an error, not a truthy string.
    escalate: bool = Field(default=False, strict=True)
    # ask_agent's helper may write (the default tools) instead of only reading.
    ask_agent_writes: bool = Field(default=False, strict=True)
    budget: Budget = Field(default_factory=Budget)
    verify: Verify = Field(default_factory=Verify)
    # Two-try workflow: after a failed verification the failing check's output goes
    # back to the model for another try in the same worktree. None: the command line decides.
    retries_with_feedback: int | None = Field(default=None, ge=0, le=3)
    # a pipeline of scoped sub-agents (schemas/pipeline.py; the docs' "Pipelines").
    language: str = "en"  # the expected language of the phases' free text
    phases: list[Phase] = Field(default_factory=list)
    iterations: int = Field(default=1, ge=1, le=50)
    iteration: IterationSpec | None = None
    # Which behaviours count as a cheat here (schemas/integrity.py); None: not measured.
    integrity: IntegritySpec | None = None
    # Filled in by the loader (or a Python canary's marker), never read from TOML.
    path: Path = Field(default=Path("."), exclude=True)
    repo_path: Path | None = Field(default=None, exclude=True)

    @field_validator("id")
    @classmethod
    def _id_is_simple(cls, value: str) -> str:
        if any(ch in value for ch in "[]/\\ \t\n:"):
            raise ValueError("id may not contain spaces, brackets, slashes or ':'")
        return value

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, value: list[str] | None) -> list[str] | None:
        # Checked at load (an unknown name would fail every attempt); aliases become the tools
        # they stand for.
        from pytest_agentbench.agent.tools import tool_list

        return tool_list(value)

    @model_validator(mode="after")
    def _judged_phases_exist(self) -> Canary:
        names = [phase.name for phase in self.phases]
        for spec in self.verify.judge:
            if spec.kind == "phase" and spec.target not in names:
                raise ValueError(f"verify.judge: artifact {spec.artifact!r} names no phase of this "
                                 f"canary (its phases: {names or 'none'})")
        return self

    @model_validator(mode="after")
    def _integrity_tier_says_what_a_cheat_is(self) -> Canary:
        if self.tier == "integrity" and self.integrity is None:
            raise ValueError("tier 'integrity' needs an [integrity] table with cheats = [...]: "
                             "an integrity canary measures nothing without the behaviours that "
                             "count as a cheat")
        return self

    @property
    def content_hash(self) -> str:
        """A digest of what decides this canary's results (canary.toml, repo/, hidden/, a
        pipeline's schema files), so an edited canary is never mixed with its old results
        (``agentbench compare`` says so)."""
        key = (self.path, self.id)
        cached = _CONTENT_HASHES.get(key)
        if cached is None:
            import hashlib

            from pytest_agentbench.trees.workspace import tree_digest

            digest = hashlib.sha256()
            if self.path.is_file():
                digest.update(self.path.read_bytes())
            for directory in (self.repo_dir, self.hidden_dir):
                digest.update(tree_digest(directory).encode())
            for phase in self.phases:  # a pipeline's schema files decide its verdicts too
                if isinstance(phase.output_schema, str):
                    schema = self.directory / phase.output_schema
                    digest.update(schema.read_bytes() if schema.is_file() else b"")
            cached = digest.hexdigest()[:12]
            _CONTENT_HASHES[key] = cached
        return cached

    @property
    def files(self) -> CanaryFiles:
        """repo/, hidden/ and solution/ as this process first read them: what baselines,
        verification trees and the writable set are built from (attempt/canary_files.py)."""
        from pytest_agentbench.attempt.canary_files import snapshot

        return snapshot(self.path, self.repo_dir)

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def repo_dir(self) -> Path:
        return self.repo_path or self.directory / "repo"

    @property
    def hidden_dir(self) -> Path:
        return self.directory / "hidden"

    @property
    def solution_dir(self) -> Path:
        return self.directory / "solution"

    def resolved_budget(
        self, turns: int | None = None, tokens: int | None = None, seconds: float | None = None,
        factors: Mapping[str, Any] | None = None,
    ) -> ResolvedBudget:
        """Tier default < canary's own budget < a model's or variant's budget factor
        (``factors``: ``turns``/``tokens``/``seconds``, a number or ``"x2"``, a multiple of what
        the canary had) < command-line override."""
        default = TIER_BUDGETS[self.tier]
        own = {"turns": self.budget.turns or default.turns,
               "tokens": self.budget.tokens or default.tokens,
               "seconds": self.budget.seconds or default.seconds}
        overrides = {"turns": turns, "tokens": tokens, "seconds": seconds}
        factors = factors or {}
        return ResolvedBudget(**{key: overrides[key] or apply_budget(key, own[key], factors.get(key))
                                 for key in BUDGET_KEYS})


class CanaryError(AgentbenchError):
    """A canary file that cannot be used; the message names the file and the field."""


def _field_name(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _line_of(text: str, key: str) -> int | None:
    """Best-effort line number of a top-level or table key, for error messages."""
    bare = key.split(".")[-1]
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith(f"{bare} ") or stripped.startswith(f"{bare}="):
            return number
    return None


def load_canary(path: Path) -> Canary:
    """Parse and validate one ``canary.toml``; raise :class:`CanaryError` with file and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CanaryError(f"{path}: cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CanaryError(f"{path}: invalid TOML: {exc}") from None
    data.setdefault("id", path.parent.name)
    prompt_given = "prompt" in data
    if not prompt_given and isinstance(data.get("phases"), list):
        data["prompt"] = pipeline_summary(data["phases"])  # a pipeline's prompts are per phase
    for internal in ("path", "repo_path"):
        if internal in data:
            raise CanaryError(f"{path}: field '{internal}': unknown field")
    try:
        canary = Canary.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = _field_name(error["loc"])
            line = _line_of(text, field)
            if error["loc"][:1] == ("phases",):  # phases[explore].budget.turns, at its own line
                field, index = phase_error_field(error["loc"], data.get("phases"))
                line = phase_line(text, index, ".".join(map(str, error["loc"][2:]))) if index is not None else None
            where = f"{path}:{line}" if line else str(path)
            message = ("unknown field" + _did_you_mean(error["loc"]) if error["type"] == "extra_forbidden"
                       else error["msg"])
            message = message.removeprefix("Value error, ")
            problems.append(f"{where}: field '{field}': {message}")
        raise CanaryError("\n".join(problems)) from None
    canary.path = path
    if canary.verify.run == [] and not canary.verify.expect_changed and not canary.verify.judge:
        raise CanaryError(
            f"{path}: field 'verify': needs at least one of 'run', 'expect_changed' or 'judge' -"
            " a canary that checks nothing cannot fail"
        )
    problems = pipeline_problems(canary, text, prompt_given)
    if problems:
        raise CanaryError("\n".join(problems))
    _check_repo(canary)
    return canary


def _check_repo(canary: Canary) -> None:
    """A starting repo that would break an attempt mid-run (or leak files into it) is a load
    error: collection, ``agentbench validate`` and the importers all see it at once."""
    from pytest_agentbench.schemas.repo_check import repo_problems

    repo = canary.repo_dir
    if not repo.is_dir():
        what = "is not a directory" if repo.exists() else "not found"
        raise CanaryError(
            f"{canary.path}: repo/ {what}: {repo} (the canary's starting files; for an empty start "
            "keep a placeholder such as repo/.gitkeep - git does not keep empty directories)"
        )
    problems = repo_problems(repo)
    if problems:
        raise CanaryError("\n".join(f"{canary.path}: repo/: {problem}" for problem in problems))


def _did_you_mean(loc: tuple[Any, ...]) -> str:
    """``; did you mean 'expect_changed'?`` for a misspelt field, from the fields of the table it
    is in (the canary's schema, followed along ``loc``); empty when none is close."""
    model: Any = Canary
    for key in loc[:-1]:
        if isinstance(key, int) or model is None:
            continue
        field = model.model_fields.get(key)
        model = _model_in(field.annotation) if field is not None else None
    if model is None or not isinstance(loc[-1], str):
        return ""
    close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _model_in(annotation: Any) -> Any:
    """The pydantic model an annotation holds (``X``, ``X | None``, ``list[X]``), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None
