"""The agent loop: query the model, run its tool calls, repeat until it stops or a ceiling hits.

The shape follows mini-swe-agent (``run → step → query/execute``) with a tiny exception
hierarchy for control flow. The message list is append-only — earlier messages stay
byte-identical between turns so a server's prefix cache can reuse them.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NoReturn, Protocol

from pytest_agentbench.agent.attempt_stats import AttemptStats
from pytest_agentbench.agent.ceilings import output_cap_detail, slow_request_detail
from pytest_agentbench.agent.encoding import BodyEncoder
from pytest_agentbench.agent.fingerprint import ConversationDigest
from pytest_agentbench.agent.knobs import AUTO_CALL_NOTE, FinishGate, refused_text
from pytest_agentbench.agent.parse import (
    ToolCall,
    assistant_message,
    find_tool_confusion,
    prepare_calls,
)
from pytest_agentbench.agent.sub_agent import run_sub_agent
from pytest_agentbench.agent.time_budget import TimeBudget
from pytest_agentbench.agent.tools import (
    DEFAULT_TOOLS,
    Tool,
    ToolContext,
    ToolError,
    builtin_tools,
)
from pytest_agentbench.attempt.outcome import Outcome
from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.schemas.canary import ResolvedBudget
from pytest_agentbench.servers.client import (
    ChatClient,
    ChatResponse,
    DeadlineExceeded,
    InfraError,
    RequestTimedOut,
)

MAX_TOOL_RESULT_CHARS = 20_000

SYSTEM_PROMPT = """\
You are a coding agent working inside a git repository; the current directory is its root.
Use the provided tools to inspect files, change them and run commands. Paths are relative to the
repository root. Do the whole task: make every change it asks for, then check your work.
When the task is complete, reply with a short summary and no tool call."""


LAST_REPLY_CHARS = 300
ESCALATED_UNRUN = "Error: not run: the task was handed back (escalate) earlier in this reply"
# The echo knob: the task restated at the end of the conversation before each turn after the first.
ECHO_REMINDER = "Reminder of the task:\n{task}"


def reply_excerpt(content: str | None, reasoning: str | None,
                  calls: list[tuple[str, str]]) -> str | None:
    """A reply as the reports quote it, at most LAST_REPLY_CHARS: its text; else its tool calls
    (``name(arguments)``); else its reasoning, marked as such. None for an empty reply."""
    text = (content or "").strip()
    if not text and calls:
        text = "; ".join(f"{name}({arguments})" for name, arguments in calls)
    if not text and (reasoning or "").strip():
        text = "(reasoning only) " + (reasoning or "").strip()
    if not text:
        return None
    return text if len(text) <= LAST_REPLY_CHARS else text[:LAST_REPLY_CHARS - 1] + "…"


class Transcript(Protocol):
    def write(self, event: dict[str, Any]) -> None: ...


class LoopStop(AgentbenchError):
    """Ends the loop; ``reason`` is the outcome-relevant cause, ``limit`` the ceiling
    that caused it (output_cap, token_budget, context_window, time_budget, request_timeout,
    turn_budget), recorded because one fixed limit can starve one model and not another."""

    def __init__(self, reason: str, detail: str, limit: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.limit = limit


@dataclass
class LoopResult:
    stop_reason: str  # final | budget_turns | budget_tokens | budget_time | malformed | tool_confusion | infra_error
    detail: str = ""
    infra_kind: str | None = None
    turns: int = 0
    tool_calls: int = 0
    malformed_tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_estimated: bool = False
    model_seconds: float = 0.0
    tool_seconds: float = 0.0
    wall_seconds: float = 0.0
    server_predicted_tokens: int = 0  # from server timings, for tokens/s
    server_predicted_ms: float = 0.0
    cached_prompt_tokens: int = 0
    finish_reasons: Counter = field(default_factory=Counter)
    quirks: Counter = field(default_factory=Counter)
    final_message: str | None = None
    # Set only when a non-empty final message ended the loop: a blank reply (a reasoning model
    # that put all its text in the reasoning field) stops the loop but claims nothing.
    claimed: bool = False
    limit_hit: str | None = None  # LoopStop.limit of the stop
    stats: AttemptStats = field(default_factory=AttemptStats)
    nudges: Counter = field(default_factory=Counter)  # knobs.FinishGate: second chances given
    time_budget: dict[str, Any] = field(default_factory=dict)  # TimeBudget.record()
    # agent/fingerprint.py: the replies and tool calls of the whole conversation (identical
    # repeats are one sample); None before the first reply.
    conversation_digest: str | None = None
    seed: int | None = None  # the sampling seed the first request sent (attempt/sampling.py)
    # The model's last reply, shortened (reply_excerpt): what tells a reader *how* an attempt
    # failed without opening its transcript (terminal summary, HTML report).
    last_reply: str | None = None
    # The escalate tool: why the model handed the task back (None: it did not).
    escalation_reason: str | None = None
    # ask_agent: one entry per helper conversation (agent/sub_agent.py); its turns and tokens are
    # in this result's counters too, because they were spent from this attempt's budget.
    sub_agents: list[dict[str, Any]] = field(default_factory=list)

    def result_fields(self) -> dict[str, Any]:
        """Every counter of the loop as ``results.AttemptResult`` fields: the one mapping from the
        loop's record to the attempt's (verdict.loop_result), so a new counter is added here once."""
        fields: dict[str, Any] = {
            "stop_reason": self.stop_reason, "detail": self.detail, "turns": self.turns,
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "tool_calls": self.tool_calls, "malformed_tool_calls": self.malformed_tool_calls,
            "claimed_done": self.claimed_done, "model_seconds": round(self.model_seconds, 3),
            "tokens_estimated": self.tokens_estimated, "cached_prompt_tokens": self.cached_prompt_tokens,
            "finish_reasons": dict(self.finish_reasons), "quirks": dict(self.quirks),
            "tokens_per_second": self.tokens_per_second, "last_reply": self.last_reply,
        }
        return {**fields, **self.extra_fields()}

    def extra_fields(self) -> dict[str, Any]:
        """The counters beyond the documented, as results.AttemptResult fields."""
        return {**self.stats.to_fields(), "nudges": dict(self.nudges), "limit_hit": self.limit_hit,
                **self.time_budget, "conversation_digest": self.conversation_digest,
                "seed": self.seed, "escalation_reason": self.escalation_reason,
                "sub_agents": list(self.sub_agents)}

    @property
    def tokens_per_second(self) -> float | None:
        """Decode speed: the server's own timings when it sent them, else completion tokens over
        model time (only when the tokens were counted, not estimated)."""
        if self.server_predicted_ms > 0:
            return round(self.server_predicted_tokens / (self.server_predicted_ms / 1000), 2)
        if self.model_seconds > 0 and not self.tokens_estimated:
            return round(self.completion_tokens / self.model_seconds, 2)
        return None

    @property
    def claimed_done(self) -> bool:
        return self.stop_reason == "final" and self.claimed

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class AgentLoop:
    def __init__(
        self,
        client: ChatClient,
        context: ToolContext,
        budget: ResolvedBudget,
        tools: list[str] | None = None,
        max_malformed: int = 3,
        system_prompt: str = SYSTEM_PROMPT,
        transcript: Transcript | None = None,
        extra_tools: dict[str, Tool] | None = None,
        on_request: Callable[[dict[str, Any]], None] | None = None,
        seed: int | None = None,
        sub_agent_writes: bool = False,
    ) -> None:
        self.client = client
        self.context = context
        self.seed = seed  # this repeat's sampling seed (ModelSpec.repeat_seed), sent in every request
        self.budget = budget
        # Custom tools (pytest_agentbench_tools) replace a built-in of the same name, and are
        # offered whatever the canary's list says (it can only name built-ins).
        self.toolbox = {**builtin_tools(), **(extra_tools or {})}
        self.tool_names = list(tools or DEFAULT_TOOLS)
        self.tool_names += [name for name in (extra_tools or {}) if name not in self.tool_names]
        self.allowed = frozenset(self.tool_names)
        self.tool_defs = [self.toolbox[name].definition() for name in self.tool_names]
        self.schemas = {name: self.toolbox[name].parameters for name in self.tool_names}
        self.on_request = on_request  # pytest_agentbench_request: adjusts each body before it is sent
        # escalate and ask_agent act on the conversation, so the loop runs them (a custom tool of
        # the same name still replaces them).
        self.loop_tools: dict[str, Callable[..., str]] = {
            name: method for name, method in (("escalate", self._escalate),
                                              ("ask_agent", self._ask_agent))
            if name not in (extra_tools or {})}
        self.sub_agent_writes = sub_agent_writes  # the canary's ask_agent_writes
        self.encoder = BodyEncoder()  # the history is append-only: each message encoded once
        self.max_malformed = max_malformed
        self.system_prompt = system_prompt
        self.transcript = transcript
        self.messages: list[dict[str, Any]] = []
        self.result = LoopResult(stop_reason="final")
        self.knobs = client.settings.knobs
        self.gate = FinishGate(self.knobs, nudges=self.result.nudges)
        self.time = TimeBudget(budget.seconds, self.knobs.time_budget, client.speed,
                               client.settings.request_timeout)
        self._consecutive_malformed = 0
        self._digest = ConversationDigest()
        self._started = 0.0
        self._try_turns = self._try_tokens = 0
        self._last_prompt_tokens = self._last_completion_tokens = self._last_reasoning_tokens = 0

    # -- public ------------------------------------------------------------------------------

    @property
    def deadline(self) -> float:
        """When this try's time runs out (a scaled budget moves it once the speed is measured)."""
        return self.time.deadline

    def remaining_seconds(self) -> float:
        return self.deadline - time.monotonic()

    def run(self, prompt: str) -> LoopResult:
        self.task = prompt.strip()  # what the echo knob restates
        self.messages = [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": prompt.strip()},
        ]
        self._log({"event": "start", "messages": self.messages, "tools": self.tool_names,
                   "budget": self.budget.model_dump(), "knobs": self.knobs.to_json()})
        self.gate.begin(self.context.root)
        return self._drive()

    def resume(self, feedback: str) -> LoopResult:
        """One more try in the same conversation (the Try2): the harness's feedback
        arrives as a user message and the budgets start afresh; counters keep adding up."""
        self.messages.append({"role": "user", "content": feedback})
        self.result.final_message = None
        self.result.claimed = False
        self._log({"event": "resume", "message": self.messages[-1]})
        return self._drive()

    def _drive(self) -> LoopResult:
        self._started = self.time.started = time.monotonic()
        self.context.remaining_seconds = self.remaining_seconds
        self._try_turns, self._try_tokens = self.result.turns, self.result.total_tokens
        self._consecutive_malformed = 0
        try:
            while True:
                self.step()
        except LoopStop as stop:
            self.result.stop_reason, self.result.detail = stop.reason, stop.detail
            self.result.limit_hit = stop.limit
        except InfraError as exc:
            self.result.stop_reason, self.result.detail = Outcome.INFRA_ERROR.value, exc.detail
            self.result.infra_kind, self.result.limit_hit = exc.kind, None
        finally:
            # The try's commands are over: end the persistent jail before anything reads the tree.
            self.context.end_commands()
        self.result.time_budget = self.time.record()
        self.result.wall_seconds += time.monotonic() - self._started
        self._log({"event": "stop", "reason": self.result.stop_reason, "detail": self.result.detail})
        return self.result

    def step(self) -> None:
        if self.remaining_seconds() <= 0:
            raise LoopStop("budget_time", f"time budget of {self.time.describe()} exhausted",
                           "time_budget")
        if self.knobs.echo and self.result.turns:
            self._echo_task()
        response = self.query()
        self.execute(response)
        used = self.result.total_tokens - self._try_tokens  # budgets apply per try
        if used >= self.budget.tokens:
            raise LoopStop(
                "budget_tokens", f"token budget of {self.budget.tokens} exhausted ({used} used)",
                "token_budget")
        if self.result.turns - self._try_turns >= self.budget.turns:
            raise LoopStop("budget_turns", f"turn budget of {self.budget.turns} exhausted",
                           "turn_budget")

    # -- query ---------------------------------------------------------------------------------

    def query(self) -> ChatResponse:
        body = self.client.build_request(self.messages, self.tool_defs)
        if self.seed is not None:
            body["seed"] = self.seed
        if self.on_request is not None:  # after the seed: a conftest.py hook has the last word
            self.on_request(body)
        if self.result.turns == 0 and isinstance(body.get("seed"), int):
            self.result.seed = body["seed"]
        # A request hook may have changed anything in the body: encode it whole then.
        content = None if self.on_request is not None else self.encoder.encode(body)
        sent = time.monotonic()
        try:
            response = self.client.chat(body, self.deadline, self.time.request_timeout, content)
        except (DeadlineExceeded, RequestTimedOut) as exc:
            self.result.model_seconds += time.monotonic() - sent  # waited on a generation all along
            self._time_ceiling(exc)
        except InfraError as exc:
            if exc.kind == "context_overflow":
                self._context_overflow(exc)
            raise
        self._account(response)
        return response

    def _echo_task(self) -> None:
        """The echo knob: the task restated as a user message at the end of the conversation.
        Appended like any message (the history stays append-only); after a user message the
        harness just added (a nudge, a retry's feedback) it joins that message, so two user
        messages never follow each other."""
        reminder = ECHO_REMINDER.format(task=self.task)
        last = self.messages[-1]
        if last.get("role") == "user" and len(self.messages) > 2:
            self.messages[-1] = {**last, "content": f"{last['content']}\n\n{reminder}"}
        else:
            self.messages.append({"role": "user", "content": reminder})
        self._log({"event": "echo", "turn": self.result.turns, "reminder": reminder})

    def _time_ceiling(self, exc: DeadlineExceeded | RequestTimedOut) -> NoReturn:
        if isinstance(exc, RequestTimedOut):
            # Slow is not broken: a retry would repeat the same slow generation, and an
            # infra_error would drop the attempt from every denominator.
            raise LoopStop("budget_time", slow_request_detail(exc.timeout, self.remaining_seconds()),
                           "request_timeout") from None
        raise LoopStop(
            "budget_time", f"time budget of {self.time.describe()} ran out waiting for the model",
            "time_budget") from None

    def _context_overflow(self, exc: InfraError) -> None:
        """A conversation the model built (by reading and writing) outgrew the server's context:
        a token ceiling it hit, not a server fault. Only the attempt's first request — the
        canary's prompt alone — overflowing says the setup cannot run this canary."""
        server_says = exc.detail.removeprefix("context_overflow: ")
        if self.result.turns == 0:
            exc.detail = (f"context_overflow: the first request (system prompt, tools and the "
                          f"canary's prompt) does not fit the server's context: {server_says}")
            return
        raise LoopStop(
            "budget_tokens",
            f"context_overflow: after {self.result.turns} turn{'s' * (self.result.turns != 1)} "
            "the conversation no longer fits "
            f"the server's context ({self._last_prompt_tokens} prompt tokens on the last turn): "
            f"{server_says}", "context_window",
        ) from None

    def _account(self, response: ChatResponse) -> None:
        result = self.result
        result.turns += 1
        result.model_seconds += response.seconds
        result.finish_reasons[str(response.finish_reason)] += 1
        if response.prompt_tokens is None or response.completion_tokens is None:
            # No usage block: estimate ~4 characters a token so the token budget still applies.
            result.tokens_estimated = True
            prompt = len(json.dumps(self.messages)) // 4
            completion = (len(response.content or "") + len(response.reasoning or "")
                          + sum(len(str(c.arguments)) for c in response.tool_calls)) // 4
        else:
            prompt, completion = response.prompt_tokens, response.completion_tokens
        # Token accounting never goes down (the client rejects negative usage; this guards
        # responses built any other way).
        prompt, completion = max(prompt, 0), max(completion, 0)
        self._last_prompt_tokens, self._last_completion_tokens = prompt, completion
        result.prompt_tokens += prompt
        result.completion_tokens += completion
        self._last_reasoning_tokens = result.stats.reasoning(response.reasoning_tokens,
                                                             response.reasoning, completion)
        if response.completion_tokens is not None or response.timings:
            self.client.speed.record_response(response.completion_tokens, response.seconds,
                                              response.timings, "first turn")
        timings = response.timings
        predicted_n, predicted_ms = timings.get("predicted_n"), timings.get("predicted_ms")
        if (isinstance(predicted_n, (int, float)) and isinstance(predicted_ms, (int, float))
                and predicted_n >= 0 and predicted_ms >= 0):
            result.server_predicted_tokens += int(predicted_n)
            result.server_predicted_ms += float(predicted_ms)
        cache_n = timings.get("cache_n")
        if isinstance(cache_n, int) and cache_n >= 0:
            result.cached_prompt_tokens += cache_n

    # -- execute -------------------------------------------------------------------------------

    def execute(self, response: ChatResponse) -> None:
        calls = prepare_calls(response, self.result.turns, self.allowed, self.schemas)
        for call in calls:
            self.result.quirks.update(call.quirks)
        sent = [(c.name, c.raw_arguments) for c in calls]
        self._digest.add(response.content, sent)
        self.result.last_reply = reply_excerpt(response.content, response.reasoning, sent)
        self.result.conversation_digest = self._digest.hexdigest
        self.messages.append(assistant_message(response, calls, self.knobs.native_thinking))
        self.result.stats.turn(len(calls), self._last_completion_tokens)
        usable = [call for call in calls if not call.malformed]
        entry: dict[str, Any] = {"event": "turn", "turn": self.result.turns, "response": {
            "content": response.content, "reasoning": response.reasoning,
            "finish_reason": response.finish_reason, "tool_calls": [
                {"id": c.id, "name": c.name, "arguments": c.raw_arguments} for c in calls],
            "prompt_tokens": response.prompt_tokens, "completion_tokens": response.completion_tokens,
            "seconds": round(response.seconds, 4), "timings": response.timings}, "tool_results": []}
        try:
            if response.finish_reason == "length" and not usable:
                raise LoopStop("budget_tokens", output_cap_detail(
                    response, self.client.settings.max_tokens, self._last_reasoning_tokens), "output_cap")
            if not calls:
                entry["nudge"] = nudge = self._end_without_calls(response)
                self.messages.append({"role": "user", "content": nudge})
            batch = self.knobs.max_batch_tool_calls
            for index, call in enumerate(calls):
                if batch is not None and index >= batch:  # calls past N are refused
                    entry["tool_results"].append(self._answer_unrun(call, refused_text(batch), "refused"))
                    continue
                # Budgets hold inside a turn: a reply with many calls must not run past the deadline.
                if self.context.remaining_seconds() <= 0:
                    entry["tool_results"] += [self._skip_call(c) for c in calls[index:]]
                    raise LoopStop(
                        "budget_time",
                        f"time budget of {self.time.describe()} ran out while running tool calls: "
                        f"{len(calls) - index} of {len(calls)} calls of turn {self.result.turns} not run",
                        "time_budget")
                entry["tool_results"].append(self._run_call(call))
                if self.result.escalation_reason is not None:
                    entry["tool_results"] += [self._answer_unrun(c, ESCALATED_UNRUN, "not_run")
                                              for c in calls[index + 1:]]
                    raise LoopStop("escalated",
                                   f"the model escalated: {self.result.escalation_reason}")
        finally:
            self._log(entry)
        if self._consecutive_malformed >= self.max_malformed:
            raise LoopStop(
                "malformed",
                f"{self._consecutive_malformed} malformed tool calls in a row; last: "
                f"{calls[-1].error if calls else ''}",
            )

    def _end_without_calls(self, response: ChatResponse) -> str:
        """A reply without tool calls ends the loop - confusion, a final message, or neither -
        unless a knob gives the model another chance: then the re-prompt or nudge it will hear."""
        content = (response.content or "").strip()
        confusion = find_tool_confusion(response.content, self.allowed)
        if not confusion and not content:
            # A reasoning model may write its call as JSON in the reasoning field and send
            # nothing else: the same confusion as JSON in content.
            confusion = find_tool_confusion(response.reasoning, self.allowed)
            if confusion:
                confusion += " (in the reasoning field)"
        if confusion:
            reprompt = self.gate.on_confusion(confusion)
            if reprompt is not None:
                return reprompt
            used = self.gate.nudges["tool_confusion"]
            raise LoopStop("tool_confusion", confusion + (f" (again, after {used} re-prompt"
                                                          f"{'s' * (used != 1)})" if used else ""))
        nudge = self.gate.on_finish(self.context.root, self.result.tool_calls)
        if nudge is not None:
            return nudge + self._auto_call()
        self.result.final_message = response.content
        if content:
            self.result.claimed = True
            raise LoopStop("final", "the model ended with a final message")
        where = "text only in the reasoning field" if (response.reasoning or "").strip() else "no text"
        raise LoopStop("final", f"the model ended with an empty reply ({where}): not a claim of being done")

    def _auto_call(self) -> str:
        """auto_tool_call_on_failure: the harness makes a call for the model and sends its result
        with the nudge. It arrives in the user message, not as a call in the model's own turn: the
        model is never shown a call it did not make, and no chat template sees two assistant
        messages in a row. It is the harness's call, so it is counted in ``nudges``, not in the
        model's tool calls, and logged as ``auto_tool_call``."""
        wanted = self.gate.auto_call()
        if wanted is None:
            return ""
        name, arguments = wanted
        try:
            text = self.toolbox[name].function(self.context, **arguments)
        except (ToolError, OSError, ValueError, UnicodeError) as exc:
            text = f"Error: {exc}"
        text = text[:MAX_TOOL_RESULT_CHARS]
        shown = f"{name}({', '.join(f'{k}={v!r}' for k, v in arguments.items())})"
        self._log({"event": "auto_tool_call", "turn": self.result.turns, "tool": name,
                   "arguments": arguments, "result": text[:2000]})
        return AUTO_CALL_NOTE.format(call=shown, result=text)

    def _skip_call(self, call: ToolCall) -> dict[str, Any]:
        """Answer a call the deadline left unrun, so every call id still has its tool message
        (a history with an unanswered call is invalid to the server)."""
        return self._answer_unrun(call, "Error: time budget exhausted; this call was not run", "not_run")

    def _answer_unrun(self, call: ToolCall, text: str, why: str) -> dict[str, Any]:
        """A call answered with an error and never run (deadline, batch limit): it still counts
        as a call the model made."""
        self.result.tool_calls += 1
        self.result.stats.call(call.tool or call.name, error=True)
        if call.malformed:
            self.result.malformed_tool_calls += 1
        if why == "refused":
            self.result.stats.refused_tool_calls += 1
        self.messages.append({"role": "tool", "tool_call_id": call.id, "content": text})
        return {"id": call.id, "tool": call.tool, "error": True, "result": text, "seconds": 0.0,
                why: True}

    def _run_call(self, call: ToolCall) -> dict[str, Any]:
        self.result.tool_calls += 1
        started = time.monotonic()
        if call.malformed:
            self.result.malformed_tool_calls += 1
            self._consecutive_malformed += 1
            text, is_error = f"Error: {call.error}", True
        else:
            self._consecutive_malformed = 0
            try:
                run = self.loop_tools.get(call.tool) or partial(self.toolbox[call.tool].function,
                                                                self.context)
                text, is_error = run(**call.arguments), False
            except ToolError as exc:
                text, is_error = f"Error: {exc}", True
            except (OSError, ValueError, UnicodeError) as exc:
                text, is_error = f"Error: {exc.__class__.__name__}: {exc}", True
        if len(text) > MAX_TOOL_RESULT_CHARS:
            text = text[:MAX_TOOL_RESULT_CHARS] + f"\n... [truncated {len(text) - MAX_TOOL_RESULT_CHARS} characters]"
        seconds = time.monotonic() - started
        self.result.tool_seconds += seconds
        self.result.stats.call(call.tool or call.name, is_error)
        self.messages.append({"role": "tool", "tool_call_id": call.id, "content": text})
        return {"id": call.id, "tool": call.tool, "error": is_error, "result": text[:2000],
                "seconds": round(seconds, 4)}

    def _escalate(self, reason: str) -> str:
        """Hand the task back: the loop ends after this call (execute), and the tree is verified
        like after any final message, so work already done still counts."""
        self.result.escalation_reason = reason.strip()
        return "Handed back: the attempt ends now, and the repository is checked as it stands."

    def _ask_agent(self, task: str) -> str:
        return run_sub_agent(self, task)

    def _log(self, event: dict[str, Any]) -> None:
        if self.transcript is not None:
            self.transcript.write(event)
