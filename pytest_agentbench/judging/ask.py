"""Asking the models: the describer states facts with no verdict, the judge decides from the
description alone in strict JSON, re-prompted once when its answer is not that JSON. Asked "pass
or fail?", a small vision model approved a page whose card was cut off, and described the defect
correctly when asked only to describe — so the describer is never asked to grade.

An artifact that could not be captured asks no model: its fault decides the record's verdict
(``not_captured``, ``tampered`` or ``error``; records.py says whose each is). Nor does a page
that fails one of the entry's deterministic ``checks`` (page_checks.py): ``check_failed``. A describer or
judge that cannot answer — unknown, its server unreachable or failing, no JSON verdict after a
re-prompt — is ``error``: a fault of the measurement, never of the model under test."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.judging.captured import MODEL, TAMPERED, Artifact, fenced
from pytest_agentbench.judging.page_checks import failure_reason, run_checks
from pytest_agentbench.schemas.judge import CHECKS_ONLY, SUBJECT, JudgeSpec
from pytest_agentbench.schemas.judge_records import JudgeRecord, Verdict
from pytest_agentbench.servers.client import (
    ChatClient,
    DeadlineExceeded,
    InfraError,
    RequestTimedOut,
)

DESCRIBER_SYSTEM = (
    "You describe artifacts precisely. State only facts you can see: what is there, what is cut "
    "off, overlapping, missing, unreadable or out of place, and any errors listed. Do not judge: "
    "no verdict, no opinion on whether it is correct, good or acceptable."
)
JUDGE_SYSTEM = (
    "You decide whether an artifact meets a specification. Answer with one JSON object and "
    'nothing else: {"verdict": "pass" or "fail", "reason": "one sentence"}.'
)
REPROMPT = ('Your answer was not the JSON verdict ({problem}). Reply with exactly one JSON object '
            'and nothing else: {{"verdict": "pass" or "fail", "reason": "..."}}')
VERDICTS = ("pass", "fail")


class JudgeUnavailable(AgentbenchError):
    """No verdict can be had (a model unknown, its server down): not the attempt's fault."""


# An artifact the model under test left unusable, by whose fault (artifacts.py) → the verdict.
NOT_JUDGED: dict[str, Verdict] = {MODEL: "not_captured", TAMPERED: "tampered"}


def _seen(artifact: Artifact) -> str:
    """What the harness recorded while capturing (console errors, failed requests, page errors):
    facts a glossing description must not hide from the judge."""
    if not artifact.problems:
        return ""
    return ("\n\nRecorded by the harness while capturing the artifact (not the model's words):\n"
            + "\n".join(f"- {problem}" for problem in artifact.problems[:30]))


def parse_verdict(text: str | None) -> tuple[str, str] | str:
    """(verdict, reason), or why ``text`` is not the strict JSON verdict. Strict: one JSON
    object, surrounding whitespace only (no code fence, no prose around it)."""
    try:
        answer = json.loads((text or "").strip())
    except ValueError:
        return "not a JSON object"
    if not isinstance(answer, dict):
        return "not a JSON object"
    verdict, reason = answer.get("verdict"), answer.get("reason")
    if verdict not in VERDICTS:
        return f"verdict {verdict!r} is not \"pass\" or \"fail\""
    if not isinstance(reason, str):
        return "reason is missing or not a string"
    return verdict, reason


Log = Callable[[dict[str, Any]], None]


def loggable(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` for the transcript: an image is named, not copied (a screenshot is ~100 KB of
    base64; the JSON report keeps what the describer said about it)."""
    def part(value: Any) -> Any:
        if isinstance(value, dict) and value.get("type") == "image_url":
            url = str((value.get("image_url") or {}).get("url", ""))
            return {"type": "image_url", "image_url": f"<{url[:url.find(',')] if ',' in url else 'image'}, "
                                                      f"{len(url)} characters>"}
        return value
    return [{**m, "content": [part(p) for p in m["content"]]} if isinstance(m.get("content"), list) else m
            for m in messages]


def _ask(client: ChatClient, messages: list[dict[str, Any]], deadline: float, role: str,
         log: Log | None) -> str:
    body = client.build_request(messages, [])
    started = time.monotonic()
    entry: dict[str, Any] = {"event": "judge_request", "role": role, "model": client.settings.model,
                             "messages": loggable(messages)}
    try:
        reply = client.chat(body, deadline).content or ""
    except (InfraError, DeadlineExceeded, RequestTimedOut) as exc:
        if log is not None:
            log({**entry, "error": str(exc), "seconds": round(time.monotonic() - started, 3)})
        raise JudgeUnavailable(f"{client.settings.model}: {exc}") from None
    if log is not None:
        log({**entry, "reply": reply, "seconds": round(time.monotonic() - started, 3)})
    return reply


def run_judge(spec: JudgeSpec, artifact: Artifact, client_for: Callable[[str], ChatClient],
              log: Log | None = None, subject: str | None = None) -> JudgeRecord:
    """One judge check on a captured artifact. ``client_for(name)`` resolves a registry model;
    it raises :class:`JudgeUnavailable` for a name it does not know. ``log`` gets every request
    and its reply (``judge_request`` events in the attempt's transcript)."""
    started = time.monotonic()
    deadline = started + spec.timeout
    def named(name: str | None) -> str | None:  # "{model}": the record names the model under test
        return subject if name == SUBJECT and subject else name

    two_steps = spec.asks_models and spec.mode == "describe-then-judge"
    record = JudgeRecord(artifact=spec.artifact, mode=spec.record_mode, verdict="error",
                         judge=named(spec.judge) or CHECKS_ONLY,
                         describer=named(spec.describer) if two_steps else None,
                         severity=spec.severity, expect=spec.expect, capture_problems=artifact.problems)
    if artifact.error and artifact.fault in NOT_JUDGED:
        record.verdict, record.reason = NOT_JUDGED[artifact.fault], artifact.error
        record.seconds = round(time.monotonic() - started, 3)
        return record
    if spec.checks and not artifact.error:
        # Deterministic first: a page that fails them is the model's, and no model is asked.
        record.page_checks = run_checks(spec, artifact)
        failed = failure_reason(record.page_checks)
        if failed or not spec.asks_models:
            record.verdict = "check_failed" if failed else "pass"
            record.reason = failed or f"page checks passed: {', '.join(spec.checks)}"
            record.seconds = round(time.monotonic() - started, 3)
            return record
    try:
        if artifact.error:
            raise JudgeUnavailable(f"the artifact could not be captured: {artifact.error}")
        if spec.mode == "describe-then-judge":
            describer = client_for(spec.describer or "")
            ask = [{"type": "text", "text": "Describe this artifact in detail."},
                   *artifact.parts(spec.images)]
            record.description = _ask(describer, [{"role": "system", "content": DESCRIBER_SYSTEM},
                                                  {"role": "user", "content": ask}], deadline,
                                      "describer", log)
            # The judge never sees the artifact: only the description, fenced (the describer may
            # be the model under test), and what the harness itself saw while capturing it.
            content: Any = (f"Specification:\n{spec.criteria}\n\n"
                            + fenced(f"A description of the artifact ({artifact.label})",
                                     record.description or "")
                            + _seen(artifact))
        else:
            content = [{"type": "text", "text": f"Specification:\n{spec.criteria}\n\nDoes this "
                        f"artifact meet it?{_seen(artifact)}"}, *artifact.parts(spec.images)]
        judge = client_for(spec.judge or "")
        messages = [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": content}]
        for _ in range(2):  # the answer, and one re-prompt when it is not the JSON verdict
            reply = _ask(judge, messages, deadline, "judge", log)
            record.judge_replies.append(reply)
            parsed = parse_verdict(reply)
            if isinstance(parsed, tuple):
                record.verdict, record.reason = parsed
                break
            messages += [{"role": "assistant", "content": reply},
                         {"role": "user", "content": REPROMPT.format(problem=parsed)}]
        else:
            raise JudgeUnavailable(f"judge {spec.judge!r} did not answer with the JSON verdict "
                                   f"after a re-prompt ({parsed})")
    except JudgeUnavailable as exc:
        record.verdict, record.reason = "error", str(exc)
    record.seconds = round(time.monotonic() - started, 3)
    return record
