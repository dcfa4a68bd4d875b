"""The chat client against a real loopback server."""

from __future__ import annotations

import time

import httpx
import pytest

from pytest_agentbench.servers.client import (
    ChatClient,
    ClientSettings,
    DeadlineExceeded,
    InfraError,
)
from pytest_agentbench.testing import ScriptedServer, call, http_error, raw, say, tool_call


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
    with (ScriptedServer(lambda body: http_error(500, "boom")) as server,
          pytest.raises(InfraError, match="HTTP 500.*after 2 retries")):
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
    with (ScriptedServer(lambda body: {**say("late"), "delay": 2}) as server,
          pytest.raises(DeadlineExceeded)):
        chat(client_for(server), deadline=0.5)


# --- protocol violations: the server's fault, named, not retried --------------------------------

def completion(message: object = None, usage: object = None, **choice: object) -> dict:
    body: dict = {"object": "chat.completion",
                  "choices": [{"index": 0, "message": message, "finish_reason": "stop", **choice}]}
    if usage is not None:
        body["usage"] = usage
    return body


OK_MESSAGE = {"role": "assistant", "content": "hi"}


@pytest.mark.parametrize(("body", "named"), [
    (completion({"role": "assistant", "content": "", "tool_calls": "abc"}),
     "choices[0].message.tool_calls is a str, not a list"),
    (completion({"role": "assistant", "content": "", "tool_calls": {"id": "x"}}),
     "choices[0].message.tool_calls is an object, not a list"),
    (completion(None), "choices[0].message is null"),
    ({"choices": [{"index": 0, "finish_reason": "stop"}]}, "choices[0].message is missing"),
    (completion("hello"), "choices[0].message is a str, not an object"),
    ({"choices": []}, "choices is empty"),
    ({"choices": "abc"}, "choices is a str, not a list"),
    ({"object": "chat.completion"}, "choices is missing"),
    ({"choices": ["x"]}, "choices[0] is a str, not an object"),
    ([1, 2], "the reply body is a list, not an object"),
    (completion({"role": "assistant", "content": 5}), "choices[0].message.content is an int"),
    (completion(OK_MESSAGE, finish_reason=3), "choices[0].finish_reason is an int"),
    (completion(OK_MESSAGE, {"prompt_tokens": -1e9, "completion_tokens": 1}),
     "usage.prompt_tokens is -1000000000.0, not a non-negative integer"),
    (completion(OK_MESSAGE, {"prompt_tokens": -3, "completion_tokens": 1}), "usage.prompt_tokens is -3"),
    (completion(OK_MESSAGE, {"prompt_tokens": 1, "completion_tokens": "12"}),
     'usage.completion_tokens is "12"'),
    (completion(OK_MESSAGE, {"prompt_tokens": 3.5, "completion_tokens": 1}), "usage.prompt_tokens is 3.5"),
    (completion(OK_MESSAGE, {"prompt_tokens": True, "completion_tokens": 1}), "usage.prompt_tokens is true"),
    (completion(OK_MESSAGE, {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": -2}),
     "usage.total_tokens is -2"),
    (completion(OK_MESSAGE, ["usage"]), "usage is a list, not an object"),
])
def test_protocol_violations_are_named_infra_errors(body, named):
    with ScriptedServer(lambda request: raw(body)) as server, pytest.raises(InfraError) as excinfo:
        chat(client_for(server))
    assert excinfo.value.kind == "protocol_violation"
    assert excinfo.value.detail.startswith("protocol violation: ") and named in excinfo.value.detail
    assert len(server.requests) == 1  # a shape the server got wrong is not retried


def test_broken_call_entries_are_the_models_problem_not_the_servers():
    """Inside a well-formed list, an entry without `function` or with a bad name is a call the
    model got wrong: it reaches the loop (which counts it as malformed), not an infra error."""
    entries = [{"id": "a", "type": "function"}, "not an object", tool_call("read_file", {"path": "a"})]
    with ScriptedServer([{"content": "", "tool_calls": entries}]) as server:
        response = chat(client_for(server))
    assert [c.name for c in response.tool_calls] == [None, None, "read_file"]


def test_tolerated_shapes_are_not_violations():
    body = completion({"role": "assistant", "content": [{"type": "text", "text": "a"}, {"text": 5}],
                       "tool_calls": None}, {"prompt_tokens": None, "completion_tokens": 4},
                      finish_reason=None)
    with ScriptedServer(lambda request: raw(body)) as server:
        response = chat(client_for(server))
    assert response.content == "a" and response.tool_calls == [] and response.finish_reason is None
    assert response.prompt_tokens is None and response.completion_tokens == 4


def test_reasoning_field_spellings_are_read():
    with ScriptedServer([say("", reasoning="ollama style")]) as server:
        assert chat(client_for(server)).reasoning == "ollama style"


# --- context overflow: never retried, whatever the server's wording ------------------------------

@pytest.mark.parametrize("reply", [
    http_error(400, "the request exceeds the available context size, try increasing it"),  # llama.cpp
    {"status": 400, "body": {"error": {"code": 400, "type": "exceed_context_size_error",
                                       "message": "request (9000 tokens) too large", "n_ctx": 8192}}},
    http_error(400, "This model's maximum context length is 4096 tokens. However, you requested "
                    "5000 tokens."),  # OpenAI / vLLM
    {"status": 400, "body": {"error": {"message": "too long", "code": "context_length_exceeded"}}},
    http_error(400, "input length exceeds the context length"),  # Ollama
    http_error(400, "prompt too long; exceeded max context length by 12 tokens"),  # Ollama
    http_error(500, "Context size has been exceeded."),  # llama.cpp per slot, LM Studio
    raw({"error": {"message": "the request exceeds the available context size"}}),  # HTTP 200 + error
])
def test_context_overflow_wordings_are_recognised_and_not_retried(reply):
    with ScriptedServer(lambda body: reply) as server, pytest.raises(InfraError) as excinfo:
        chat(client_for(server))
    assert excinfo.value.kind == "context_overflow" and len(server.requests) == 1
    assert excinfo.value.detail.startswith("context_overflow: ")


def test_other_client_errors_are_not_retried():
    with (ScriptedServer(lambda body: http_error(400, "bad request: unknown field")) as server,
          pytest.raises(InfraError) as excinfo):
        chat(client_for(server))
    assert excinfo.value.kind == "http_error" and len(server.requests) == 1


def test_a_batching_scripted_server_slows_sub_linearly_with_requests_in_flight():
    """ScriptedServer(batching=...): 20 tokens at 10 ms alone; four at once each decode at
    10 ms × 4 ** 0.5, so together they take about twice as long as one, not four times."""
    import threading

    from pytest_agentbench.testing import Batching

    reply = say("x", usage={"prompt_tokens": 1, "completion_tokens": 20, "total_tokens": 21})
    with ScriptedServer(lambda body: reply, batching=Batching(token_seconds=0.01, exponent=0.5)) as server:
        started = time.monotonic()
        chat(client_for(server))
        alone = time.monotonic() - started
        busy_alone = server.busy_seconds
        clients = [client_for(server) for _ in range(4)]
        threads = [threading.Thread(target=chat, args=(c,)) for c in clients]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        together = time.monotonic() - started
        assert server.max_in_flight == 4
        assert 0.18 <= busy_alone <= alone
        assert 0.3 <= together < 0.7  # ~0.4 s; unbatched (exponent 1) it would be 0.8 s
        # The server stops its busy clock after it has written the last reply, which the client
        # may already have read: a few milliseconds past the client's own window (seen: 0.5 ms).
        assert server.busy_seconds - busy_alone <= together + 0.05
    with ScriptedServer([reply]) as plain:  # without batching: no time taken, still counted
        chat(client_for(plain))
        assert plain.busy_seconds < 0.1 and plain.max_in_flight == 1


def test_every_http_client_shares_one_verifying_tls_context(monkeypatch):
    """Made once (a CA bundle load each costs ~20 ms), and still verifying certificates."""
    import ssl

    from pytest_agentbench.servers.http import http_client, tls_context

    real, given = httpx.Client, []

    def recording(**options):
        given.append(options["verify"])
        return real(**options)

    monkeypatch.setattr(httpx, "Client", recording)
    with http_client(), http_client(timeout=2.0):
        pass
    assert len(given) == 2 and given[0] is given[1] is tls_context()
    assert tls_context().verify_mode == ssl.CERT_REQUIRED and tls_context().check_hostname
