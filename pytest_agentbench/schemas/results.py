"""The record of one attempt. It travels from xdist workers to the controller on the TestReport
(as a JSON-safe dict), feeds the terminal summary and becomes one entry of the JSON report."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

from pytest_agentbench.attempt.outcome import Outcome
from pytest_agentbench.schemas.cells import (  # noqa: F401 (the record's names for them)
    AGENT_SEPARATOR,
    BUILTIN_AGENT,
    cell_variant,
    split_cell_variant,
)
from pytest_agentbench.schemas.judge_records import JudgeRecord
from pytest_agentbench.schemas.pipeline_records import IterationRecord, PhaseRecord


class CheckRecord(BaseModel):
    command: str
    exit_code: int | None
    timed_out: bool
    seconds: float
    tests_passed: int | None = None  # from the runner's report (pytest checks, $AGENTBENCH_TEST_REPORT)
    evidence_problem: str = ""  # why the report did not prove a pass


class TryRecord(BaseModel):
    """One try of a two-try (retries_with_feedback) attempt; counters are cumulative."""

    outcome: str
    stop_reason: str
    turns: int
    tokens: int
    detail: str = ""


class AttemptResult(BaseModel):
    # the JSON report's contract fields
    canary: str
    tier: str
    model: str
    variant: str = "base"
    # the agent that drove the attempt (schemas/agents.py). Left out of the JSON when it is the
    # built-in loop, so records of runs without --agentbench-agent stay as they were.
    agent: str = "builtin"
    repeat: int
    outcome: str
    detail: str = ""
    turns: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_seconds: float = 0.0
    tool_calls: int = 0
    malformed_tool_calls: int = 0
    files_changed: list[str] = Field(default_factory=list)
    claimed_done: bool = False
    # extras
    nodeid: str = ""
    tags: list[str] = Field(default_factory=list)
    stop_reason: str = ""
    insertions: int = 0
    deletions: int = 0
    model_seconds: float = 0.0
    harness_seconds: float = 0.0
    tokens_per_second: float | None = None
    tokens_estimated: bool = False
    cached_prompt_tokens: int = 0
    finish_reasons: dict[str, int] = Field(default_factory=dict)
    quirks: dict[str, int] = Field(default_factory=dict)
    checks: list[CheckRecord] = Field(default_factory=list)
    check_output_tail: str = ""
    budget: dict[str, int | float] = Field(default_factory=dict)
    transcript: str | None = None
    server: dict[str, Any] | None = None  # the preflight of the endpoint this attempt ran on
    worktree: str | None = None
    # With retries_with_feedback: every try in order; the attempt's outcome is the last one's.
    tries: list[TryRecord] = Field(default_factory=list)
    # Tries the attempt was allowed (1 + retries_with_feedback): a pass on the first try of a run
    # with retries still says "first try" apart from "final".
    max_tries: int = 1
    # Host-side git metadata the agent changed (the .git pointer, refs, config): a failed attempt.
    integrity_problems: list[str] = Field(default_factory=list)
    # Protected paths the agent changed (left out of the verification tree), whatever the outcome:
    # a model that solved the task and also wrote a harmless conftest.py passes, with it recorded.
    protected_changes: list[str] = Field(default_factory=list)
    # Changes outside the canary's writable set (attempt/writable.py): never applied, never tampering.
    ignored_changes: list[str] = Field(default_factory=list)
    tests_passed: int | None = None  # passing tests in the pytest checks' reports
    canary_hash: str = ""  # Canary.content_hash: which version of the canary this result is of
    # Fair limits. Which ceiling ended the loop: output_cap, token_budget,
    # context_window, time_budget, request_timeout, turn_budget (None: no ceiling).
    limit_hit: str | None = None
    reasoning_tokens: int = 0  # of completion_tokens; the server's count, else estimated
    reasoning_tokens_estimated: bool = False
    # Tool-call statistics: per tool name {"calls", "errors"}; replies per batch size.
    tool_stats: dict[str, dict[str, int]] = Field(default_factory=dict)
    batch_sizes: dict[str, int] = Field(default_factory=dict)
    turns_with_tool_calls: int = 0
    completion_tokens_without_tool_calls: int = 0  # the "verbose token burn"
    refused_tool_calls: int = 0  # past max_batch_tool_calls
    nudges: dict[str, int] = Field(default_factory=dict)  # second chances given, by knob
    time_budget_mode: str = "fixed"  # fixed | scaled
    time_budget_seconds: float | None = None  # the budget in force (scaled: canary seconds x scale)
    time_budget_scale: float | None = None
    decode_tokens_per_second: float | None = None  # the endpoint's measured decode speed
    decode_speed_source: str | None = None
    # Independent repeats: the sampling seed this attempt sent (model seed + repeat,
    # attempt/sampling.py) and a fingerprint of its replies and tool calls (agent/fingerprint.py):
    # repeats of one canary with the same digest and outcome are one sample, not several.
    seed: int | None = None
    conversation_digest: str | None = None
    # The model's last reply, at most 300 characters (agent/loop.py reply_excerpt): its text,
    # else its tool calls, else its reasoning. The terminal quotes it for a non-passing attempt.
    last_reply: str | None = None
    # How far a multi-file task got: {"expected": patterns of verify.expect_changed,
    # "changed": how many of them a qualifying change matched}; None without expect_changed.
    progress: dict[str, int] | None = None
    # A pipeline canary: each phase run, in order (schemas/pipeline_records.py), and with
    # `iterations = N` each iteration's score and distinct value; empty for other canaries.
    phases: list[PhaseRecord] = Field(default_factory=list)
    iterations: list[IterationRecord] = Field(default_factory=list)
    # The review checks (verify.review; routing/review.py), on an accepted change only:
    # each one's {"command", "severity", "ok"}, and review_pain = the severities of the failing
    # ones + the changed files outside expect_changed. None: not measured (not accepted).
    review_checks: list[dict[str, Any]] = Field(default_factory=list)
    review_pain: int | None = None
    # The severities of the acceptance checks that passed, of all of them (verify.run entries
    # {run, severity}; default 1 each): the severity-weighted pass count. None: no checks.
    severity_passed: int | None = None
    severity_total: int | None = None
    # The judge checks (verify.judge; judging/), in order, when the checks passed: each
    # one's artifact, mode, the describer's description, the judge's verdict and reason.
    judges: list[JudgeRecord] = Field(default_factory=list)
    # verify.answer: the final answer the checks read (the head of a long one); None otherwise.
    answer: str | None = None
    # The escalate tool: the reason the model gave for handing the task back (outcome
    # `escalated` unless the work passed anyway); None when it did not escalate.
    escalation_reason: str | None = None
    # A canary with an [integrity] table (schemas/integrity.py): the cheat behaviours the harness
    # saw (attempt/integrity.py), [] for none; None: the canary does not measure cheating.
    # cheat_evidence says where each was seen ("read_file answer.txt (turn 2)").
    cheats: list[str] | None = None
    cheat_evidence: list[str] = Field(default_factory=list)
    # ask_agent: each helper conversation's task, stop reason, turns, tokens and tool calls (they
    # are counted in this attempt's turns and tokens too).
    sub_agents: list[dict[str, Any]] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _without_builtin_agent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if isinstance(data, dict) and data.get("agent") == "builtin":
            del data["agent"]
        return data

    @property
    def cell_variant(self) -> str:
        return cell_variant(self.variant, self.agent)

    @property
    def passed_on_try(self) -> int | None:
        """1-based try that passed (1 without retries), None when the attempt did not pass."""
        if self.outcome != Outcome.PASSED.value:
            return None
        return len(self.tries) or 1

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
