"""The chat client against a real loopback server."""

from __future__ import annotations

import time

import pytest

from pytest_agentbench.client import ChatClient, ClientSettings, DeadlineExceeded, InfraError
from pytest_agentbench.testing import ScriptedServer, call, http_error, say


def client_for(server: ScriptedServer, **overrides) -> ChatClient:
    settings = ClientSettings(base_url=server.url, model="m", retries=2, backoff=0.01, **overrides)
    return ChatClient(settings)


def chat(client: ChatClient, deadline: float = 30):
    body = client.build_request([{"role": "user", "content": "hi"}], tools=[])
    return client.chat(body, time.monotonic() + deadline)


def test_reads_content_tool_calls_usage_and_reasoning():
    reply = {**call("read_file", path="a.py"), "reasoning_content": "thinking",
             "usage": {"prompt_tokens": 12, "completion_tokens": 5}, "timings": {"predicted_n": 5}}
    with ScriptedServer([reply]) as server:
        response = chat(client_for(server))
    assert response.tool_calls[0].name == "read_file"
    assert response.tool_calls[0].arguments == '{"path": "a.py"}'
    assert response.reasoning == "thinking"
    assert (response.prompt_tokens, response.completion_tokens) == (12, 5)
    assert response.timings == {"predicted_n": 5} and response.finish_reason == "tool_calls"


def test_missing_usage_is_tolerated():
    with ScriptedServer([say("hello", usage=None)]) as server:
        response = chat(client_for(server))
    assert response.content == "hello" and response.prompt_tokens is None


def test_request_carries_sampling_and_tools_explicitly():
    with ScriptedServer([say("ok")]) as server:
        client = client_for(server, temperature=0.3, max_tokens=77)
        body = client.build_request([{"role": "user", "content": "x"}], tools=[{"type": "function"}])
        client.chat(body, time.monotonic() + 10)
    sent = server.requests[0]
    assert sent["temperature"] == 0.3 and sent["max_tokens"] == 77
    assert sent["tool_choice"] == "auto" and sent["tools"] == [{"type": "function"}]
    assert sent["stream"] is False


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_retryable_statuses_are_retried_then_succeed(status):
    replies = iter([http_error(status), http_error(status), say("finally")])
    with ScriptedServer(lambda body: next(replies)) as server:
        response = chat(client_for(server))
    assert response.content == "finally" and len(server.requests) == 3


def test_persistent_failure_becomes_infra_error():
    with ScriptedServer(lambda body: http_error(500, "boom")) as server:
        with pytest.raises(InfraError, match="HTTP 500.*after 2 retries"):
            chat(client_for(server))
    assert len(server.requests) == 3


def test_context_overflow_is_not_retried():
    overflow = http_error(400, "the request exceeds the available context size, try increasing it")
    with ScriptedServer(lambda body: overflow) as server, pytest.raises(InfraError) as excinfo:
        chat(client_for(server))
    assert excinfo.value.kind == "context_overflow" and len(server.requests) == 1


@pytest.mark.parametrize("reply", [
    {"status": 200, "body": "{not json"},
    {"status": 200, "body": {"no": "choices"}},
    {"close": True},
])
def test_broken_bodies_and_dropped_connections_are_infra_errors(reply):
    with ScriptedServer(lambda body: reply) as server, pytest.raises(InfraError):
        chat(client_for(server))


def test_a_slow_server_hits_the_deadline_not_an_infra_error():
    with ScriptedServer(lambda body: {**say("late"), "delay": 2}) as server:
        with pytest.raises(DeadlineExceeded):
            chat(client_for(server), deadline=0.5)
