"""``ask_agent(task)``: a sub-task delegated to a helper conversation with the same model.

The helper is a fresh conversation (its own system prompt, the task as its only user message)
through the same client, with read-only tools unless the canary sets ``ask_agent_writes``. It is
paid for out of the asking attempt's budget: it gets at most the turns, tokens and time the
attempt has left, and what it spends is added to the attempt's counters, so delegating can never
buy a model more budget than answering itself. Its events go into the attempt's transcript, marked
``"sub_agent": N``; its final message is the tool result.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from pytest_agentbench.agent.knobs import AgentKnobs, FinishGate
from pytest_agentbench.agent.time_budget import TimeBudget
from pytest_agentbench.agent.tools import DEFAULT_TOOLS, ToolError
from pytest_agentbench.schemas.canary import ResolvedBudget
from pytest_agentbench.servers.client import InfraError

if TYPE_CHECKING:
    from pytest_agentbench.agent.loop import AgentLoop

READ_ONLY_HELPER_TOOLS = ("read_file", "list_dir", "glob", "grep", "batch_read")
# The helper has no helper of its own and cannot end the attempt.
_NEVER_FOR_HELPERS = frozenset({"ask_agent", "escalate"})
_WRITE_TOOLS = frozenset({"write_file", "edit_file", "apply_patch", "shell"})

HELPER_SYSTEM_PROMPT = """\
You are a helper agent. Another agent working in this git repository (the current directory is
its root) has delegated a sub-task to you. Use the provided tools to do it; paths are relative to
the repository root. When you are done, reply with what you found or did, with no tool call: that
reply is passed back to the agent that asked, word for word."""


class _MarkedTranscript:
    """The parent's transcript, each helper event marked with its helper's number."""

    def __init__(self, parent: Any, number: int) -> None:
        self.parent, self.number = parent, number

    def write(self, event: dict[str, Any]) -> None:
        if self.parent is not None:
            self.parent.write({**event, "sub_agent": self.number})


def helper_tools(parent: AgentLoop) -> list[str]:
    """Read-only tools, or with ``ask_agent_writes`` the default set (plus batch_read): writing
    only when the asking loop itself may write (a read-only pipeline phase stays read-only)."""
    writes = parent.sub_agent_writes and bool(_WRITE_TOOLS & set(parent.tool_names))
    base = [*DEFAULT_TOOLS, "batch_read"] if writes else list(READ_ONLY_HELPER_TOOLS)
    return [name for name in base if name not in _NEVER_FOR_HELPERS]


def run_sub_agent(parent: AgentLoop, task: str) -> str:
    result = parent.result
    turns_left = parent.budget.turns - (result.turns - parent._try_turns)
    tokens_left = parent.budget.tokens - (result.total_tokens - parent._try_tokens)
    seconds_left = parent.remaining_seconds()
    if turns_left <= 0 or tokens_left <= 0 or seconds_left <= 0:
        raise ToolError("no budget left for a helper: the attempt's turns, tokens or time are spent")
    number = len(result.sub_agents) + 1
    helper = type(parent)(  # the loop's own class: this module need not import it
        parent.client, dataclasses.replace(parent.context),  # its own clock, the same tree
        ResolvedBudget(turns=turns_left, tokens=tokens_left, seconds=seconds_left),
        tools=helper_tools(parent), max_malformed=parent.max_malformed,
        system_prompt=HELPER_SYSTEM_PROMPT, transcript=_MarkedTranscript(parent.transcript, number),
        on_request=parent.on_request, seed=parent.seed)
    # The asking attempt's deadline, not a fresh (or rescaled) budget; no knob nudges a helper:
    # the help a knob gives is counted for the attempt, not hidden inside a sub-task.
    helper.time = TimeBudget(seconds_left, "fixed", parent.client.speed, parent.time.request_timeout)
    helper.gate = FinishGate(AgentKnobs(native_thinking=parent.knobs.native_thinking))
    run = helper.run(task)
    _charge(parent, run)
    result.sub_agents.append({
        "task": task[:300], "stop_reason": run.stop_reason, "detail": run.detail,
        "turns": run.turns, "prompt_tokens": run.prompt_tokens,
        "completion_tokens": run.completion_tokens, "tool_calls": run.tool_calls,
        "tools": helper.tool_names})
    if run.stop_reason == "infra_error":
        # A server fault inside the helper is a server fault of the attempt.
        raise InfraError(run.detail, run.infra_kind or "server_error")
    answer = (run.final_message or "").strip()
    if run.stop_reason == "final" and answer:
        return answer
    raise ToolError(f"the helper ended without an answer ({run.stop_reason}: {run.detail})")


def _charge(parent: AgentLoop, run: Any) -> None:
    """What the helper spent, added to the attempt's own counters (and so to its budget)."""
    result = parent.result
    result.turns += run.turns
    result.prompt_tokens += run.prompt_tokens
    result.completion_tokens += run.completion_tokens
    result.tokens_estimated |= run.tokens_estimated
    result.model_seconds += run.model_seconds
    result.server_predicted_tokens += run.server_predicted_tokens
    result.server_predicted_ms += run.server_predicted_ms
    result.cached_prompt_tokens += run.cached_prompt_tokens
    result.finish_reasons.update(run.finish_reasons)
