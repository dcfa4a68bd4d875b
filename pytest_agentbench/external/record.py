"""What the recording proxy saw, as the built-in loop's own record, and the budget it holds the
agent to.

A chat request reserves its turn (:meth:`ProxyRecord.reserve`) before it is forwarded, under the
same lock as the check, so N concurrent requests on a budget of T turns forward at most T. The
reservation becomes a turn when the model answers (:meth:`ProxyRecord.account`), whether or not the
agent stays to read the answer. It goes back when the server answered with an error instead
(:meth:`ProxyRecord.failed`): as the built-in loop retries server faults without charging a turn,
a flaky server does not eat the model's budget. So every forwarded request is either one of the
budget's turns or a counted server failure (``upstream_errors``), and those are bounded too: after
``MAX_FAILURES_IN_A_ROW`` of them in a row the proxy stops the agent, an infrastructure fault.

The token budget is checked against the tokens already answered, before each request: as in the
built-in loop, the turn that crosses it completes, and so do the others already in flight.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from pytest_agentbench.agent.fingerprint import ConversationDigest
from pytest_agentbench.agent.loop import LoopResult, reply_excerpt
from pytest_agentbench.agent.parse import find_tool_confusion, prepare_calls
from pytest_agentbench.attempt.faults import FaultKind
from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.schemas.canary import ResolvedBudget
from pytest_agentbench.servers.client import parse_chat_response

MAX_FAILURES_IN_A_ROW = 8  # above the OpenAI SDK's own 3 tries a request, so an agent's retries fit


class OverBudget(AgentbenchError):
    """No further request may go to the model; the message says why."""


class Turn:
    """One turn of the budget, held for a request on its way to the model."""

    def __init__(self, record: ProxyRecord) -> None:
        self.record = record
        self.held = True

    def release(self) -> None:
        """Give the turn back: nothing was asked of the model (a no-op once it was spent)."""
        with self.record.lock:
            self.close()

    def close(self) -> None:  # the caller holds record.lock
        if self.held:
            self.held = False
            self.record.in_flight -= 1


class ProxyRecord:
    """What the proxy saw, as the loop's own record; ``stop`` is set when the harness must end the
    agent (a budget it ran through, or a model server that failed it)."""

    def __init__(self, budget: ResolvedBudget) -> None:
        self.budget = budget
        self.result = LoopResult(stop_reason="final")
        self.stop = threading.Event()
        self.upstream_errors = 0
        self.failures_in_a_row = 0
        self.in_flight = 0  # turns reserved by requests the model has not answered yet
        self.refused = 0  # requests refused without forwarding
        self.last_fault = FaultKind.SERVER_ERROR  # what the server's last failure was
        self.lock = threading.Lock()
        self.digest = ConversationDigest()

    def halt(self, reason: str, detail: str, limit: str | None = None, kind: str | None = None) -> None:
        """The first reason to stop wins; ``kind`` is the infra_kind of an infra_error."""
        with self.lock:
            self._halt(reason, detail, limit, kind)

    def _halt(self, reason: str, detail: str, limit: str | None = None, kind: str | None = None) -> None:
        if not self.stop.is_set():
            self.result.stop_reason, self.result.detail, self.result.limit_hit = reason, detail, limit
            if kind is not None:
                self.result.infra_kind = kind
            self.stop.set()

    def reserve(self) -> Turn:
        """Hold one turn for a request about to be forwarded, or raise :class:`OverBudget` (and
        stop the agent: it asked for more than its budget)."""
        with self.lock:
            result = self.result
            if not self.stop.is_set():
                if result.turns + self.in_flight >= self.budget.turns:
                    self._halt("budget_turns", f"turn budget of {self.budget.turns} exhausted", "turn_budget")
                elif result.total_tokens >= self.budget.tokens:
                    self._halt("budget_tokens", f"token budget of {self.budget.tokens} exhausted "
                               f"({result.total_tokens} used)", "token_budget")
            if self.stop.is_set():
                raise OverBudget(result.detail)
            self.in_flight += 1
            return Turn(self)

    def wait_idle(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the requests in flight to be answered and recorded."""
        deadline = time.monotonic() + seconds
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)

    def failed(self, turn: Turn | None = None, kind: FaultKind = FaultKind.SERVER_ERROR) -> None:
        """The server answered a forwarded request with an error or an unreadable body: the turn
        goes back, the failure counts, and too many in a row stop the agent."""
        with self.lock:
            if turn is not None:
                turn.close()
            self.upstream_errors += 1
            self.failures_in_a_row += 1
            self.last_fault = kind
            if self.failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                self._halt("infra_error", f"the model server answered {self.failures_in_a_row} requests "
                           f"in a row with an error ({kind.value})", kind=kind.value)

    def context_overflow(self, turn: Turn, detail: str) -> None:
        """The request does not fit the model's context: the attempt's own ceiling, as for the
        built-in loop (the turn is spent; the agent cannot go on)."""
        with self.lock:
            turn.close()
            self.failures_in_a_row = 0
            self.result.turns += 1
            self._halt("budget_tokens", f"context_overflow: {detail[:300]}", "context_window")

    def agent_ended(self, how: str) -> bool:
        """The agent's program ended (``how``: what ended it). When the server had failed its
        last requests, whatever the agent did next — give up, claim success, retry until the
        deadline — followed a server fault: ``infra_error``. Returns whether that was so."""
        with self.lock:
            if self.stop.is_set() or not self.failures_in_a_row:
                return False
            kind = self.last_fault.value
            self._halt("infra_error", f"the model server failed the agent's last "
                       f"{self.failures_in_a_row} request(s) ({kind}); then {how}", kind=kind)
            return True

    def account(self, request: dict[str, Any], body: Any, seconds: float, turn: Turn | None = None) -> dict[str, Any]:
        """Add one model reply to the record (spending ``turn``); returns its transcript entry.
        Raises :class:`~pytest_agentbench.servers.client.InfraError` for a body that is no chat reply."""
        response = parse_chat_response(body, seconds)
        tools = request.get("tools") or []
        schemas = {t["function"]["name"]: t["function"].get("parameters") or {}
                   for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)
                   and isinstance(t["function"].get("name"), str)}
        allowed = frozenset(schemas)
        with self.lock:
            if turn is not None:
                turn.close()
            self.failures_in_a_row = 0
            result = self.result
            result.turns += 1
            result.model_seconds += seconds
            result.finish_reasons[str(response.finish_reason)] += 1
            if response.prompt_tokens is None or response.completion_tokens is None:
                result.tokens_estimated = True  # ~4 characters a token, as the built-in loop does
                prompt = len(json.dumps(request.get("messages") or [])) // 4
                completion = (len(response.content or "") + len(response.reasoning or "")) // 4
            else:
                prompt, completion = max(response.prompt_tokens, 0), max(response.completion_tokens, 0)
            result.prompt_tokens += prompt
            result.completion_tokens += completion
            calls = prepare_calls(response, result.turns, allowed, schemas) if allowed else []
            result.tool_calls += len(calls)
            result.malformed_tool_calls += sum(1 for call in calls if call.malformed)
            # The same per-tool statistics and token split as the built-in loop. The proxy never
            # sees a tool run: a call's error here is a malformed call (the loop counts those too).
            result.stats.reasoning(response.reasoning_tokens, response.reasoning, completion)
            result.stats.turn(len(calls), completion)
            for call in calls:
                result.quirks.update(call.quirks)
                result.stats.call(call.name, error=call.malformed)
            if not response.tool_calls and allowed and find_tool_confusion(response.content, allowed):
                # A call written as text where native tool calls were offered.
                result.quirks["tool_confusion"] += 1
            sent = [(call.name, call.raw_arguments) for call in calls]
            result.last_reply = reply_excerpt(response.content, response.reasoning, sent)
            self.digest.add(response.content, sent)
            result.conversation_digest = self.digest.hexdigest
            result.final_message = response.content
            result.claimed = bool((response.content or "").strip()) and not response.tool_calls
            number = result.turns
        return {"event": "turn", "turn": number, "via": "proxy", "response": {
            "content": response.content, "reasoning": response.reasoning,
            "finish_reason": response.finish_reason,
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.raw_arguments} for c in calls],
            "prompt_tokens": response.prompt_tokens, "completion_tokens": response.completion_tokens,
            "seconds": round(seconds, 4)}}
