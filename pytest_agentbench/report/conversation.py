"""An attempt's conversation for the HTML report, read back from its JSONL transcript: the
prompt, each reply with its tool calls and their results, the harness's nudges and the stop.

Bounded, because a report must open in a browser: each text is cut at MAX_TEXT characters, a
transcript is read up to MAX_BYTES, and one report embeds at most ``Budget.chars`` characters
of conversation in all (past it, an attempt shows its transcript's path instead). The text is
the model's and is hostile: the template escapes every piece of it (Jinja2 autoescape).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_TEXT = 4_000  # characters of one message, call or result
MAX_BYTES = 2 * 1024 * 1024  # of one transcript file
REPORT_CHARS = 8_000_000  # of conversation in one report


@dataclass
class Budget:
    """What is left of the report's conversation characters."""

    chars: int = REPORT_CHARS


@dataclass
class Call:
    name: str
    arguments: str
    result: str = ""
    error: bool = False
    note: str = ""  # refused / not run


@dataclass
class Entry:
    role: str  # system | user | assistant | harness
    text: str = ""
    reasoning: str = ""
    calls: list[Call] = field(default_factory=list)
    label: str = ""  # what the harness or the reply's metadata says (finish reason, tokens)


@dataclass
class Conversation:
    entries: list[Entry] = field(default_factory=list)
    problem: str = ""  # why it is missing or cut short


def _cut(value: Any, budget: Budget) -> str:
    text = value if isinstance(value, str) else "" if value is None else json.dumps(value, ensure_ascii=False)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + f"\n… [{len(text) - MAX_TEXT} more characters in the transcript]"
    budget.chars -= len(text)
    return text


def _turn(event: dict[str, Any], budget: Budget) -> list[Entry]:
    response = event.get("response") or {}
    results = {r.get("id"): r for r in event.get("tool_results") or [] if isinstance(r, dict)}
    calls = []
    for index, call in enumerate(response.get("tool_calls") or []):
        if not isinstance(call, dict):
            continue
        answer = results.get(call.get("id")) or {}
        if not answer and index < len(event.get("tool_results") or []):
            answer = event["tool_results"][index]  # a reply without call ids: in order
        note = "refused" if answer.get("refused") else "not run" if answer.get("not_run") else ""
        calls.append(Call(_cut(call.get("name"), budget), _cut(call.get("arguments"), budget),
                          _cut(answer.get("result"), budget), bool(answer.get("error")), note))
    finish = response.get("finish_reason")
    label = " · ".join(part for part in (
        f"turn {event.get('turn')}",
        f"finish_reason {finish}" if finish and finish != "stop" else "",
        f"{response['completion_tokens']} completion tokens" if response.get("completion_tokens") else "",
    ) if part)
    entries = [Entry("assistant", _cut(response.get("content"), budget),
                     _cut(response.get("reasoning"), budget), calls, label)]
    if event.get("nudge"):
        entries.append(Entry("user", _cut(event["nudge"], budget), label="the harness's nudge"))
    return entries


def _entries(event: dict[str, Any], budget: Budget) -> list[Entry]:
    kind = event.get("event")
    if kind == "start":
        return [Entry(str(m.get("role", "?")), _cut(m.get("content"), budget))
                for m in event.get("messages") or [] if isinstance(m, dict)]
    if kind == "turn":
        return _turn(event, budget)
    if kind == "resume":
        message = event.get("message") or {}
        return [Entry("user", _cut(message.get("content"), budget), label="feedback for the next try")]
    if kind == "echo":
        return [Entry("user", _cut(event.get("reminder"), budget), label="the task restated (echo)")]
    if kind == "try":
        return [Entry("harness", f"try {event.get('try')} ended: {event.get('outcome')}")]
    if kind == "stop":
        return [Entry("harness", _cut(f"loop stopped: {event.get('reason')} - {event.get('detail')}", budget))]
    return []


def read_conversation(path: str | None, budget: Budget) -> Conversation:
    """The conversation of one transcript; a missing, unreadable or over-budget one says why."""
    if not path:
        return Conversation(problem="no transcript recorded")
    if budget.chars <= 0:
        return Conversation(problem="not embedded: the report's conversation size limit was reached")
    file = Path(path)
    if file.suffix != ".jsonl":  # only what the harness writes: never an arbitrary file
        return Conversation(problem="not a transcript (.jsonl)")
    try:
        with file.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        return Conversation(problem=f"transcript not readable: {exc.strerror or exc}")
    conversation = Conversation()
    if len(raw) > MAX_BYTES:
        raw = raw[:MAX_BYTES]
        conversation.problem = f"transcript longer than {MAX_BYTES // (1024 * 1024)} MiB: the rest is left out"
    for line in raw.decode("utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line cut by the size bound, or by a crash mid-write
        if isinstance(event, dict):
            conversation.entries.extend(_entries(event, budget))
        if budget.chars <= 0:
            conversation.problem = "cut short: the report's conversation size limit was reached"
            break
    return conversation
