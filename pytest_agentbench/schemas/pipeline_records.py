"""What the JSON report keeps of a pipeline attempt: ``attempts[].phases`` (a contract)
and ``attempts[].iterations``. Pydantic only: ``schemas/results.py`` imports this module."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

OK = "ok"  # a phase that ended with its (valid) output
SKIPPED = "skipped"  # a phase the pipeline stopped before, or a skip_to jumped over


class Regression(BaseModel):
    """The regression gate of one writing phase: gate checks that passed before it and fail
    after it; the harness then reverts the phase's change."""

    broken: list[str] = Field(default_factory=list)  # check commands (or test ids) that regressed
    reverted: bool = False
    reverted_files: list[str] = Field(default_factory=list)


class PhaseRecord(BaseModel):
    # the contract fields
    name: str
    # ok (ended with valid output), invalid_output, budget_turns/_tokens/_time, malformed,
    # tool_confusion, infra_error; skipped: the pipeline stopped before this phase
    outcome: str
    json_ok: bool | None = None  # None: the phase has no output_schema (or never ended)
    json_retries: int = 0  # re-prompts sent: 0 = first time
    schema_errors: list[str] = Field(default_factory=list)  # one per rejected reply
    turns: int = 0
    tokens: int = 0
    seconds: float = 0.0  # wall time of the phase, its checks included
    tool_calls: int = 0
    files_changed: list[str] = Field(default_factory=list)  # this phase's own diff
    phantom: bool | None = None  # None: a read-only phase
    hallucinated: list[str] = Field(default_factory=list)
    invalid_paths: list[str] = Field(default_factory=list)
    language: str | None = None
    language_drift: bool = False
    regression: Regression | None = None  # None: no regression_gate
    output: Any = None  # the parsed JSON output
    iteration: int | None = None  # 1-based, only when the canary iterates
    # extras
    stop_reason: str = ""
    detail: str = ""
    writes: bool = False
    violation: list[str] = Field(default_factory=list)  # files a read-only phase changed
    violation_reverted: bool = False  # ... and the harness put them back
    claims_checked: bool = False  # the phase declares claims and produced output to check
    # why each hallucinated entry is one, in the same order: never run, never read, or a claimed
    # result that is not what the command's run recorded (its exit status and error line)
    hallucinated_reasons: list[str] = Field(default_factory=list)
    language_evidence: str = ""
    repeated: Any = None  # the iteration.distinct value, when it repeats a recent one
    # reprompt_on: re-prompts sent for valid outputs its checks rejected, and what they found
    check_retries: int = 0
    check_problems: list[str] = Field(default_factory=list)
    skipped_to: str | None = None  # skip_to taken after this phase (a phantom, a reverted regression)
    retry: int = 0  # iteration.retry_aborted: 0 in an iteration's first run, 1 in its first retry...
    tally: dict[str, list[str]] = Field(default_factory=dict)  # phase.tally field -> its values here
    # plan_files: the files this phase changed outside the plan, and planned files it left alone
    plan_checked: bool = False
    off_plan: list[str] = Field(default_factory=list)
    plan_untouched: list[str] = Field(default_factory=list)


class IterationRecord(BaseModel):
    iteration: int
    completed: bool  # every phase ran
    score: float | None = None  # iteration.score
    distinct: Any = None  # iteration.distinct's value
    repeated: bool = False
    tokens: int = 0
    retry: int = 0  # iteration.retry_aborted: which run of this iteration (0: its first)
