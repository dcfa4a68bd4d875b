"""What one judge check leaves in the attempt's record: ``attempts[].judges``.

A record's ``verdict`` is one of :data:`VERDICTS`, and each says whose the outcome is — the same
split as everywhere else in the harness (the model under test answers for what it made, a
server's or the harness's own fault is ``infra_error``, an indirection where a result goes is
tampering):

``pass``, ``fail``
    The judge model's verdict on the artifact. The check passes when it is the check's
    ``expect`` (``pass`` unless it is a calibration check on a known-broken artifact). An entry
    of page checks only (no judge model) is ``pass`` when every one of them passed.
``check_failed``
    A deterministic page check of the entry (``no_console_errors``, ``not_blank``) failed on
    the page the model under test made: no model is asked, the check fails and so does the
    attempt (it counts in n). ``page_checks`` says which and why.
``not_captured``
    What the model under test left cannot be judged: the file is missing or not a regular file,
    the page is empty or blank, its scripts keep it from loading or settling in time, the
    ``command:`` artifact exits non-zero or times out. No model is asked; the check fails
    whatever ``expect`` says, and the attempt fails with it (it counts in n).
``tampered``
    The artifact's path (or a directory on it) is a link the model under test made: an
    artifact must be a regular file. The check fails and the attempt is ``tampered``.
``error``
    No verdict could be had for a reason outside the model under test, and only then: no
    browser or one that does not start, a describer or judge model that is unknown, whose
    server is unreachable or answers a 5xx or an error body, or a judge that never answers
    with the JSON verdict. The attempt is ``infra_error`` and left out of every rate.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Verdict = Literal["pass", "fail", "check_failed", "not_captured", "tampered", "error"]
VERDICTS: tuple[Verdict, ...] = ("pass", "fail", "check_failed", "not_captured", "tampered", "error")


class PageCheckRecord(BaseModel):
    """One deterministic page check of a judge entry, on the captured page."""

    name: str  # no_console_errors, not_blank
    passed: bool
    reason: str = ""  # what failed it, in words ('' when it passed)


class JudgeRecord(BaseModel):
    artifact: str
    mode: str
    description: str | None = None  # the describer's reply (describe-then-judge)
    verdict: Verdict  # see the module docstring: whose each one is
    reason: str = ""
    describer: str | None = None
    judge: str
    severity: int = 1
    expect: str = "pass"  # the verdict that passes the check (judge.expect)
    # The judge's raw replies in order: two when the first was not the JSON verdict.
    judge_replies: list[str] = Field(default_factory=list)
    capture_problems: list[str] = Field(default_factory=list)  # console errors, failed requests
    page_checks: list[PageCheckRecord] = Field(default_factory=list)  # the entry's checks, in order
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        # Only a judge's verdict can meet expect: not_captured, tampered and error never do.
        return self.verdict == self.expect

    @property
    def infrastructure(self) -> bool:
        """No verdict, and not the attempt's fault: the attempt is ``infra_error``."""
        return self.verdict == "error"

    @property
    def tampered(self) -> bool:
        return self.verdict == "tampered"
