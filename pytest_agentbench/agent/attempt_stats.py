"""Per-attempt tool-call statistics and token split (the tool stats; the "verbose
token burn"): which tools a model calls and gets wrong, how many calls it packs into one reply,
how often a turn carries a call at all, and how many completion tokens go to reasoning or to turns
that call nothing."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

CHARS_PER_TOKEN = 4  # the loop's estimate where a server reports no count (as for usage)


@dataclass
class AttemptStats:
    calls: Counter = field(default_factory=Counter)  # tool name -> calls
    errors: Counter = field(default_factory=Counter)  # tool name -> calls answered with an error
    batch_sizes: Counter = field(default_factory=Counter)  # calls in one reply -> replies
    turns_with_tool_calls: int = 0
    completion_tokens_without_tool_calls: int = 0
    reasoning_tokens: int = 0
    reasoning_tokens_estimated: bool = False
    refused_tool_calls: int = 0

    def turn(self, n_calls: int, completion_tokens: int) -> None:
        if n_calls:
            self.turns_with_tool_calls += 1
            self.batch_sizes[n_calls] += 1
        else:
            self.completion_tokens_without_tool_calls += completion_tokens

    def reasoning(self, reported: int | None, text: str | None, completion_tokens: int) -> int:
        """Reasoning tokens of one reply: the server's ``completion_tokens_details
        .reasoning_tokens`` when sent, else estimated from the reasoning text (never more than
        the reply's completion tokens, which hold them)."""
        if reported is not None:
            tokens = reported
        else:
            tokens = min(len(text or "") // CHARS_PER_TOKEN, completion_tokens)
            self.reasoning_tokens_estimated |= tokens > 0
        self.reasoning_tokens += tokens
        return tokens

    def call(self, name: str | None, error: bool) -> None:
        key = name or "(no name)"
        self.calls[key] += 1
        if error:
            self.errors[key] += 1

    def to_fields(self) -> dict[str, Any]:
        """The attempt's fields (results.AttemptResult); JSON keys are strings."""
        return {
            "tool_stats": {name: {"calls": self.calls[name], "errors": self.errors[name]}
                           for name in sorted(self.calls)},
            "batch_sizes": {str(size): count for size, count in sorted(self.batch_sizes.items())},
            "turns_with_tool_calls": self.turns_with_tool_calls,
            "completion_tokens_without_tool_calls": self.completion_tokens_without_tool_calls,
            "reasoning_tokens": self.reasoning_tokens,
            "reasoning_tokens_estimated": self.reasoning_tokens_estimated,
            "refused_tool_calls": self.refused_tool_calls,
        }
