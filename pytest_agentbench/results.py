"""The record of one attempt. It travels from xdist workers to the controller on the TestReport
(as a JSON-safe dict), feeds the terminal summary and becomes one entry of the JSON report."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class CheckRecord(BaseModel):
    command: str
    exit_code: int | None
    timed_out: bool
    seconds: float


class AttemptResult(BaseModel):
    # DESIGN §4.4 contract fields
    canary: str
    tier: str
    model: str
    variant: str = "base"
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

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
