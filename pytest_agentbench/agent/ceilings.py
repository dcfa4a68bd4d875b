"""What the loop says when a ceiling ends an attempt that one model hits and another may not: the detail names the limit and the knob that moves it."""

from __future__ import annotations

from pytest_agentbench.agent.repetition import degenerate_repetition
from pytest_agentbench.servers.client import ChatResponse


def output_cap_detail(response: ChatResponse, cap: int, reasoning_tokens: int) -> str:
    """Why the output cap ended the loop; when the reply was reasoning and nothing else, say that
    reasoning ate the cap (the starved reasoning model), with its reasoning tokens (``~``:
    estimated from the text, the server sent no count). Any other reply that loops until the cap
    cuts it (a small model's usual failure, agent/repetition.py) says "degenerate repetition" and
    what repeats: a larger cap would only buy more of the loop."""
    reasoning = (response.reasoning or "").strip()
    if reasoning and not (response.content or "").strip() and not response.tool_calls:
        estimated = "~" if response.reasoning_tokens is None else ""
        return (f"output cap: reasoning consumed the {cap}-token output cap (max_tokens={cap}; "
                f"{estimated}{reasoning_tokens} reasoning tokens) with no answer or tool call; "
                "raise max_tokens or lower think_level")
    detail = f"output cap: reply cut off at max_tokens={cap} with no usable tool call"
    looping = degenerate_repetition(response.content) or degenerate_repetition(response.reasoning)
    return f"{detail}: degenerate repetition, {looping}" if looping else detail


def slow_request_detail(timeout: float, seconds_left: float) -> str:
    """A generation that outlived the per-request timeout: slow, not broken."""
    return (f"the request took longer than {timeout:g} s (the per-request timeout; "
            f"{max(seconds_left, 0):.0f} s of the attempt were left): the model is slower than the "
            "limit, not broken - raise --agentbench-request-timeout or use "
            "--agentbench-time-budget scaled")
