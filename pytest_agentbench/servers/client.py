"""OpenAI-compatible chat-completions client on httpx.

Plain dicts are POSTed on one kept-alive ``httpx.Client`` per model per process:
measured ~0.5 ms per POST this way, ~20 ms for a new client, and the OpenAI SDK re-walking the
whole history on every call. Server faults are retried with bounded backoff; what is left after
that is an :class:`InfraError` — never a model failure. A reply that breaks the protocol and a
request that does not fit the context are not retried: the same request would fail the same way.
Nor is a generation that outlives the request timeout (:class:`RequestTimedOut`): the retry would
repeat the same slow generation, and slow is the model's speed on this hardware, not a fault.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from pytest_agentbench.agent.encoding import dumps
from pytest_agentbench.agent.knobs import AgentKnobs
from pytest_agentbench.agent.time_budget import SpeedMeter
from pytest_agentbench.attempt.faults import FaultKind, server_fault
from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.servers.http import http_client
from pytest_agentbench.servers.shared_prefix import SharedPrefix

RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504}


class InfraError(AgentbenchError):
    """The model server failed (unreachable, 5xx after retries, bad body, context overflow).

    ``kind`` is a :class:`~pytest_agentbench.attempt.faults.FaultKind` value: ``context_overflow`` (the
    request does not fit; the loop decides whether the model or the canary made it too long) is
    the attempt's own; every other kind is the server's."""

    def __init__(self, detail: str, kind: str = "server_error") -> None:
        super().__init__(detail)
        self.detail = detail
        self.kind = kind


class DeadlineExceeded(AgentbenchError):
    """The attempt's time budget ran out while waiting for the server."""


class RequestTimedOut(AgentbenchError):
    """The server took the request but was still generating when the per-request timeout ran
    out, with the attempt's time not yet spent: the model is slower than the limit (a
    slow model), which is a time ceiling it hit, not a server fault."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"the request took longer than {timeout:g} s")
        self.timeout = timeout


@dataclass
class RawToolCall:
    id: str | None
    name: str | None
    arguments: Any  # a JSON string as the protocol says, or an object some servers send


@dataclass
class ChatResponse:
    content: str | None
    tool_calls: list[RawToolCall]
    reasoning: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    seconds: float  # time the request(s) were in flight, retries included; not encode/parse
    timings: dict[str, Any] = field(default_factory=dict)  # server-side timings when reported
    raw: dict[str, Any] = field(default_factory=dict)
    reasoning_tokens: int | None = None  # usage.completion_tokens_details.reasoning_tokens
    reasoning_key: str | None = None  # the field the reasoning came in: reasoning_content | reasoning


@dataclass
class ClientSettings:
    base_url: str
    model: str
    api_key: str | None = None
    temperature: float = 0.0
    max_tokens: int = 2048
    request_timeout: float = 300.0
    retries: int = 3
    backoff: float = 0.5  # seconds; doubled each retry, with jitter
    tool_choice: str = "auto"
    extra_body: dict[str, Any] = field(default_factory=dict)
    knobs: AgentKnobs = field(default_factory=AgentKnobs)  # what the loop does with this model


def _parse_tool_calls(message: dict[str, Any]) -> list[RawToolCall]:
    calls = []
    # The list itself is checked by _check_protocol; what is inside is the model's (a broken
    # entry becomes a malformed call, counted against the model).
    for entry in message.get("tool_calls") or []:
        if not isinstance(entry, dict):
            calls.append(RawToolCall(id=None, name=None, arguments=entry))
            continue
        function = entry.get("function") if isinstance(entry.get("function"), dict) else entry
        calls.append(
            RawToolCall(
                id=entry.get("id") if isinstance(entry.get("id"), str) else None,
                name=function.get("name") if isinstance(function.get("name"), str) else None,
                arguments=function.get("arguments"),
            )
        )
    return calls


def _a(value: Any) -> str:
    """``null``, ``a str``, ``an int``...: how a violation names what the server sent."""
    if value is None:
        return "null"
    name = {dict: "object", list: "list"}.get(type(value), type(value).__name__)
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _violation(where: str, problem: str) -> InfraError:
    return InfraError(f"protocol violation: {where} {problem}", "protocol_violation")


def _token_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_protocol(body: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Return ``(choice, message, usage)`` of a chat-completions body, or raise an
    :class:`InfraError` naming the first place its shape breaks the protocol. Such a body is
    the server's fault: read leniently, ``tool_calls: "abc"`` would become three malformed calls
    and ``message: null`` an empty final answer, both charged to the model."""
    if not isinstance(body, dict):
        raise _violation("the reply body", f"is {_a(body)}, not an object")
    if "choices" not in body:
        raise _violation("choices", f"is missing: {json.dumps(body)[:300]}")
    choices = body["choices"]
    if not isinstance(choices, list):
        raise _violation("choices", f"is {_a(choices)}, not a list")
    if not choices:
        raise _violation("choices", "is empty")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise _violation("choices[0]", f"is {_a(choice)}, not an object")
    if "message" not in choice:
        raise _violation("choices[0].message", "is missing")
    message = choice["message"]
    if not isinstance(message, dict):
        raise _violation("choices[0].message", f"is {_a(message)}, not an object")
    tool_calls = message.get("tool_calls")
    if tool_calls is not None and not isinstance(tool_calls, list):
        raise _violation("choices[0].message.tool_calls", f"is {_a(tool_calls)}, not a list")
    content = message.get("content")
    if content is not None and not isinstance(content, (str, list)):
        raise _violation("choices[0].message.content", f"is {_a(content)}, not a string")
    finish = choice.get("finish_reason")
    if finish is not None and not isinstance(finish, str):
        raise _violation("choices[0].finish_reason", f"is {_a(finish)}, not a string")
    usage = body.get("usage")
    if usage is None:
        return choice, message, {}  # no usage block: tolerated, the loop estimates tokens
    if not isinstance(usage, dict):
        raise _violation("usage", f"is {_a(usage)}, not an object")
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        value = usage.get(key)
        # Token counts only add up: a negative or fractional count would corrupt the budget.
        if value is not None and not _token_count(value):
            raise _violation(f"usage.{key}", f"is {json.dumps(value)}, not a non-negative integer")
    return choice, message, usage


_JSON_HEADERS = {"Content-Type": "application/json"}


def parse_chat_response(body: Any, seconds: float) -> ChatResponse:
    """Read one chat-completions body; raise :class:`InfraError` for one that breaks the protocol."""
    choice, message, usage = _check_protocol(body)
    content = message.get("content")
    if isinstance(content, list):  # content parts
        content = "".join(part["text"] for part in content
                          if isinstance(part, dict) and isinstance(part.get("text"), str))
    key = next((k for k in ("reasoning_content", "reasoning") if message.get(k)), None)
    reasoning = message.get(key) if key else None
    prompt_tokens, completion_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
    details = usage.get("completion_tokens_details")
    # Reported by vLLM and OpenAI-style servers; a count that is not one is ignored (it is a
    # breakdown of completion_tokens, which the budget already holds).
    reasoning_tokens = details.get("reasoning_tokens") if isinstance(details, dict) else None
    return ChatResponse(
        content=content if isinstance(content, str) else None,
        tool_calls=_parse_tool_calls(message),
        reasoning=reasoning if isinstance(reasoning, str) else None,
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        seconds=seconds,
        timings=body.get("timings") if isinstance(body.get("timings"), dict) else {},
        raw=body,
        reasoning_tokens=reasoning_tokens if _token_count(reasoning_tokens) else None,
        reasoning_key=key if isinstance(reasoning, str) else None,
    )


class ChatClient:
    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        headers = {"Content-Type": "application/json"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        self.url = settings.base_url.rstrip("/") + "/chat/completions"
        self._http = http_client(headers=headers, timeout=settings.request_timeout)
        # The endpoint's decode speed, for scaled time budgets; the session shares one meter
        # among the clients of one endpoint (every variant decodes at the same speed).
        self.speed = SpeedMeter()
        # A managed llama-server with several slots: first prompts evaluated once among the
        # workers (servers/shared_prefix.py); set by the session.
        self.prefix: SharedPrefix | None = None

    def close(self) -> None:
        self._http.close()

    def build_request(self, messages: list[dict], tools: list[dict]) -> dict:
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages,
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_tokens,
            "stream": False,
        }
        if tools:
            body["tools"] = tools
            body["tool_choice"] = self.settings.tool_choice
        body.update(self.settings.extra_body)
        return body

    def chat(self, body: dict, deadline: float, request_timeout: float | None = None,
             content: bytes | None = None) -> ChatResponse:
        """POST ``body``; retry faults with backoff until ``deadline`` (a ``time.monotonic()``).
        ``request_timeout`` (default: the settings') bounds one request."""
        limit = request_timeout or self.settings.request_timeout
        if self.prefix is not None:  # bounded as one request is: a stalled server costs no more
            self.prefix.prepare(body, min(deadline, time.monotonic() + limit))
        # Encoded once, outside the clock: ``seconds`` is the time requests were in flight (last
        # byte sent to last byte received); encoding and parsing are the harness's time.
        if content is None:  # the loop passes its incrementally encoded body
            content = dumps(body)  # as the loop's encoder: lone surrogates as JSON escapes
        in_flight = 0.0
        last_problem = "no attempt made"
        last_kind = FaultKind.SERVER_ERROR
        for attempt in range(self.settings.retries + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceeded(last_problem)
            timeout = min(limit, remaining)
            sent = time.monotonic()
            try:
                try:
                    response = self._http.post(self.url, content=content, timeout=timeout,
                                               headers=_JSON_HEADERS)
                finally:
                    in_flight += time.monotonic() - sent  # failed tries waited on the server too
            except httpx.ReadTimeout:
                # Connected and sent: the server is generating. Cut by the attempt's deadline, or
                # slower than the request timeout - either way a time ceiling, never retried.
                if remaining <= limit or time.monotonic() >= deadline:
                    raise DeadlineExceeded("the model was still answering") from None
                raise RequestTimedOut(limit) from None
            except httpx.TimeoutException:  # connect / write / pool: the connection's fault
                if time.monotonic() >= deadline:
                    raise DeadlineExceeded("the model was still answering") from None
                last_problem, last_kind = f"request timed out after {timeout:.0f}s", FaultKind.SERVER_ERROR
            except httpx.TransportError as exc:
                last_problem = f"cannot reach {self.url}: {exc.__class__.__name__}: {exc}"
                last_kind = FaultKind.SERVER_ERROR
            else:
                if response.status_code == 200:
                    try:
                        # What response.json() does, without decoding the text first for nothing
                        # (response.text finds the charset: ~15 µs a turn).
                        body_json = json.loads(response.content)
                    except ValueError:
                        last_problem = f"invalid JSON from server: {response.text[:200]!r}"
                    else:
                        if isinstance(body_json, dict) and "error" in body_json and "choices" not in body_json:
                            error = json.dumps(body_json["error"])
                            last_kind = server_fault(200, error) or FaultKind.SERVER_ERROR
                            if last_kind is FaultKind.CONTEXT_OVERFLOW:  # it would overflow again
                                raise InfraError(f"context_overflow: {error[:300]}", last_kind.value)
                            last_problem = f"server error ({last_kind.value}): {error[:300]}"
                        else:
                            return parse_chat_response(body_json, in_flight)
                else:
                    status, text = response.status_code, response.text
                    last_kind = server_fault(status, text) or FaultKind.SERVER_ERROR
                    if last_kind is FaultKind.CONTEXT_OVERFLOW:
                        raise InfraError(f"context_overflow: {text[:300]}", last_kind.value)
                    if status not in RETRY_STATUSES and last_kind in (FaultKind.HTTP_ERROR,):
                        # The request itself is wrong (a model name, auth): again would be the same.
                        raise InfraError(f"HTTP {status} from {self.url}: {text[:300]}", last_kind.value)
                    last_problem = f"HTTP {status} ({last_kind.value}): {text[:200]}"
            if attempt < self.settings.retries:
                pause = self.settings.backoff * (2**attempt) * (0.5 + random.random())
                pause = min(pause, max(deadline - time.monotonic(), 0))
                time.sleep(pause)
        raise InfraError(f"{last_problem} (after {self.settings.retries} retries)", last_kind.value)
