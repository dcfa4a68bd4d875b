"""What one judge check leaves in the attempt's record: ``attempts[].judges`` (issue 20's
contract keys first, then what explains them)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class JudgeRecord(BaseModel):
    artifact: str
    mode: str
    description: str | None = None  # the describer's reply (describe-then-judge)
    verdict: str  # pass | fail | error (no verdict could be had: not the attempt's fault)
    reason: str = ""
    describer: str | None = None
    judge: str
    severity: int = 1
    expect: str = "pass"  # the verdict that passes the check (judge.expect)
    # The judge's raw replies in order: two when the first was not the JSON verdict.
    judge_replies: list[str] = Field(default_factory=list)
    capture_problems: list[str] = Field(default_factory=list)  # console errors, failed requests
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.verdict == self.expect
