"""Agent knobs: what the loop does when a model is about to stop too early, calls too
many tools at once, or writes a tool call as text.

Each knob gives a model a second chance *and counts it* (``nudges``), so a model that needs the
harness's help is visibly worse than one that does not — the help never hides in a pass rate.
``think``/``think_level`` are request fields, translated per server (servers/thinking.py).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# A tree with more entries than this is fingerprinted by its first entries only: enough to see a
# change in a canary's repository without walking a runaway tree the model made.
FINGERPRINT_ENTRIES = 50_000
# Byproducts of running the code (a model that only ran the tests changed nothing): the same noise
# the verification's diff leaves out (trees/tree_diff.py).
_NOISE = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"})


@dataclass(frozen=True)
class AgentKnobs:
    """The loop's part of a model's registry settings (models.ModelSpec), resolved per variant."""

    native_thinking: bool = False  # send the reasoning back in the assistant messages
    require_code_change: bool = False  # one nudge when the model finishes without changing the tree
    min_tool_calls: int = 0  # one nudge when it finishes with fewer tool calls
    max_batch_tool_calls: int | None = None  # calls past N in one reply are refused
    confusion_retries: int = 0  # re-prompts for a tool call written as text
    time_budget: str = "fixed"  # fixed | scaled (agent/time_budget.py)
    # With min_tool_calls: instead of only a nudge, the harness lists the repository root for the
    # model and sends the listing with the nudge.
    auto_tool_call_on_failure: bool = False
    # Prompt caching on/off (None: the server's default), a request field on servers that have
    # one (agent/config.py).
    cache: bool | None = None
    # Restate the task (the canary's prompt) at the end of the conversation before each model
    # turn after the first: a short user reminder (agent/loop.py, ECHO_REMINDER).
    echo: bool = False

    def to_json(self) -> dict[str, object]:
        return {"native_thinking": self.native_thinking,
                "require_code_change": self.require_code_change,
                "min_tool_calls": self.min_tool_calls,
                "max_batch_tool_calls": self.max_batch_tool_calls,
                "confusion_retries": self.confusion_retries, "time_budget": self.time_budget,
                "auto_tool_call_on_failure": self.auto_tool_call_on_failure, "cache": self.cache,
                "echo": self.echo}


def tree_fingerprint(root: Path) -> str:
    """A digest of the tree's files (path, kind, size, mtime), links never followed, ``.git``
    left out: cheap enough to take at the start and at the end of an attempt, and it sees a change
    made through ``shell`` as well as through the file tools."""
    digest = hashlib.sha256()
    stack, seen = [root], 0
    while stack and seen < FINGERPRINT_ENTRIES:
        directory = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if (entry.name == ".git" and directory == root) or entry.name in _NOISE \
                    or entry.name.endswith((".pyc", ".pyo")):
                continue
            seen += 1
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_dir:
                stack.append(Path(entry.path))
            digest.update(f"{entry.path}\0{is_dir}\0{info.st_size}\0{info.st_mtime_ns}\n".encode(
                errors="surrogateescape"))
    return digest.hexdigest()


CONFUSION_REPROMPT = (
    "Your reply wrote a tool call as text ({what}). Text is not run: nothing happened. Call the "
    "tool through the tool-calling interface (a function call with JSON arguments) instead.")
CODE_CHANGE_NUDGE = (
    "You are finishing without having changed any file, but the task requires changes to the "
    "repository. Make the changes with the tools you were given, then reply with a short summary "
    "and no tool call.")
MIN_CALLS_NUDGE = (
    "You have made {made} tool call{s}; finish only after at least {needed}: use the tools to look "
    "at the files and to check your work, then reply with a short summary and no tool call.")
AUTO_CALL_NOTE = "\n\nTo get you started, the harness called {call} for you. Its result:\n{result}"
# What the harness calls for a model that stops short of min_tool_calls: cheap, read-only, and
# useful on any repository.
AUTO_CALL = ("list_dir", {"path": "."})


@dataclass
class FinishGate:
    """Whether a reply that would end the loop gets another chance, and what the model hears.
    Every chance given is counted in ``nudges`` (by knob)."""

    knobs: AgentKnobs
    nudges: Counter = field(default_factory=Counter)
    _start_print: str | None = None
    _last: str | None = None  # the knob of the last finish nudge

    def begin(self, root: Path) -> None:
        """At the start of the attempt: the tree to compare the end with."""
        if self.knobs.require_code_change and self._start_print is None:
            self._start_print = tree_fingerprint(root)

    def on_confusion(self, what: str) -> str | None:
        """A re-prompt for a tool call written as text, while re-prompts are left."""
        if self.nudges["tool_confusion"] >= self.knobs.confusion_retries:
            return None
        self.nudges["tool_confusion"] += 1
        return CONFUSION_REPROMPT.format(what=what)

    def on_finish(self, root: Path, tool_calls: int) -> str | None:
        """A nudge for a model that stops before a knob is satisfied; each knob nudges once."""
        knobs = self.knobs
        if (knobs.require_code_change and not self.nudges["require_code_change"]
                and self._start_print is not None and tree_fingerprint(root) == self._start_print):
            self.nudges["require_code_change"] += 1
            self._last = "require_code_change"
            return CODE_CHANGE_NUDGE
        if knobs.min_tool_calls and tool_calls < knobs.min_tool_calls and not self.nudges["min_tool_calls"]:
            self.nudges["min_tool_calls"] += 1
            self._last = "min_tool_calls"
            return MIN_CALLS_NUDGE.format(made=tool_calls, s="" if tool_calls == 1 else "s",
                                          needed=knobs.min_tool_calls)
        return None

    def auto_call(self) -> tuple[str, dict] | None:
        """The call the harness makes along with the min_tool_calls nudge just given
        (auto_tool_call_on_failure), counted apart in ``nudges``; None when the knob is off or
        the last nudge was another knob's."""
        if not self.knobs.auto_tool_call_on_failure or self._last != "min_tool_calls":
            return None
        self.nudges["auto_tool_call_on_failure"] += 1
        return AUTO_CALL


def refused_text(limit: int) -> str:
    """The tool error for a call past ``max_batch_tool_calls``: the model reads why and can repeat
    the call in a later turn."""
    return (f"Error: refused: at most {limit} tool call{'s' * (limit != 1)} per reply "
            "(max_batch_tool_calls); this call was not run - make it again in a later turn")
