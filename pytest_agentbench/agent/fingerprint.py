"""A compact fingerprint of what the model said in an attempt, to tell identical repeats apart: two repeats with the same fingerprint gave the same replies and the same tool calls,
so they are one sample, not two (measured: llama.cpp at temperature 0 repeats byte-identically).

What counts: each assistant reply's text and its tool calls' names and arguments, in order.
What does not: call ids (servers make them up per request), token counts and timings, tool
results (the harness's, and a shell's output can carry a time), the reasoning field.
Arguments that parse as JSON are compared as JSON (key order and spacing ignored).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from pytest_agentbench.agent.encoding import json_text


def _canonical_arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def turn_record(content: str | None, calls: Iterable[tuple[str | None, Any]]) -> bytes:
    """One assistant turn as bytes: its text and its ``(name, arguments)`` calls."""
    record = [content or "", [[name or "", _canonical_arguments(arguments)] for name, arguments in calls]]
    return json_text(record, sort_keys=True, separators=(",", ":"), default=str).encode() + b"\n"


class ConversationDigest:
    """A running sha256 over the turns; :attr:`hexdigest` is its first 16 hex digits."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.turns = 0

    def add(self, content: str | None, calls: Iterable[tuple[str | None, Any]]) -> None:
        self._hash.update(turn_record(content, calls))
        self.turns += 1

    @property
    def hexdigest(self) -> str | None:
        return self._hash.hexdigest()[:16] if self.turns else None
