"""Outcome labels end to end: an empty reply claims nothing, tool confusion counts
only offered tools (in content or the reasoning field), a reply that breaks the protocol is the
server's fault, budgets hold inside a turn, and a context overflow is the model's token ceiling
unless the canary's first request alone overflows. Each case goes through pytest collection, a
ScriptedServer over real HTTP, the loop, verification and the JSON report."""

from __future__ import annotations

import pytest

from pytest_agentbench.servers.preflight import PROBE_TOOL
from pytest_agentbench.testing import (
    END_OF_SCRIPT,
    Reply,
    ScriptedServer,
    calls,
    http_error,
    raw,
    say,
    tool_call,
)
from tests.conftest import HELLO_SOURCE

WRITE_HELLO = calls(tool_call("write_file", {"path": "hello.py", "content": HELLO_SOURCE}))
OVERFLOW = "the request exceeds the available context size, try increasing it"


def agent_only(*replies: Reply):
    """A turn-indexed script that gives the preflight's tool probe a plain answer, so a scripted
    fault reaches the agent loop and nothing else."""
    probe = PROBE_TOOL["function"]["name"]

    def reply(request: dict) -> Reply:
        if any(t.get("function", {}).get("name") == probe for t in request.get("tools", [])):
            return say("pong")
        turn = sum(m.get("role") == "assistant" for m in request["messages"])
        return replies[turn] if turn < len(replies) else say(END_OF_SCRIPT)

    return reply


def only_attempt(bench) -> dict:
    [attempt] = bench.report()["attempts"]
    return attempt


# --- 1a: an empty reply is not a claim of being done -------------------------------------------

def test_an_empty_reply_after_the_work_passes_without_claiming_done(bench):
    bench.canary()
    script = agent_only(WRITE_HELLO, say("", reasoning_content="hello.py is written; I am done."))
    with ScriptedServer(script) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "passed" and attempt["stop_reason"] == "final"
    assert attempt["claimed_done"] is False
    assert "empty reply (text only in the reasoning field)" in attempt["detail"]


def test_an_empty_reply_without_the_work_claims_nothing(bench):
    bench.canary()
    with ScriptedServer(agent_only(say("", reasoning_content="Let me think about hello.py"))) as server:
        bench.run(server)
    attempt = only_attempt(bench)
    # Which failure label an unclaimed, changeless stop gets is outcome.py's call; the loop's
    # part is to record that nothing was claimed.
    assert attempt["outcome"] != "passed" and attempt["claimed_done"] is False
    assert attempt["detail"].startswith("the model ended with an empty reply")


# --- 1b/1c: tool confusion ---------------------------------------------------------------------

def test_a_tool_call_in_the_reasoning_field_is_tool_confusion(bench):
    bench.canary()
    thought = 'I will now call {"name": "write_file", "arguments": {"path": "hello.py", "content": "x"}}'
    with ScriptedServer(agent_only(say("", reasoning_content=thought))) as server:
        result = bench.run(server)
    result.assert_outcomes(failed=1)
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "tool_confusion" and attempt["claimed_done"] is False
    assert "'write_file'" in attempt["detail"] and "reasoning field" in attempt["detail"]


@pytest.mark.parametrize(("named", "outcome", "claimed"), [
    ("write_file", "tool_confusion", False),  # offered: the model wrote its call as text
    ("shell", "phantom", True),  # not offered to this canary: just a (false) final message
    ("web_search", "phantom", True),  # no tool of ours at all
])
def test_only_json_naming_an_offered_tool_is_confusion(bench, named, outcome, claimed):
    bench.canary(extra='tools = ["read_file", "write_file"]')
    text = f'Done. Next run {{"name": "{named}", "arguments": {{"command": "pytest"}}}}'
    with ScriptedServer(agent_only(say(text))) as server:
        bench.run(server)
    attempt = only_attempt(bench)
    assert attempt["outcome"] == outcome and attempt["claimed_done"] is claimed


# --- 2: a reply that breaks the protocol is the server's fault ---------------------------------

def completion(message: object, usage: object = None) -> dict:
    body: dict = {"object": "chat.completion",
                  "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    if usage is not None:
        body["usage"] = usage
    return body


@pytest.mark.parametrize(("reply", "named"), [
    (raw(completion({"role": "assistant", "content": "", "tool_calls": "abc"})),
     "choices[0].message.tool_calls is a str, not a list"),
    (raw(completion(None)), "choices[0].message is null"),
    (raw({"object": "chat.completion", "choices": []}), "choices is empty"),
    (raw(completion({"role": "assistant", "content": "ok"},
                    {"prompt_tokens": -1e9, "completion_tokens": 3})),
     "usage.prompt_tokens is -1000000000.0, not a non-negative integer"),
])
def test_protocol_violations_are_infra_errors(bench, reply, named):
    bench.canary()
    with ScriptedServer(agent_only(reply)) as server:
        result = bench.run(server)
    result.assert_outcomes(errors=1)
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "infra_error" and attempt["checks"] == []
    assert f"model server fault: protocol violation: {named}" in attempt["detail"]
    assert attempt["malformed_tool_calls"] == 0 and attempt["claimed_done"] is False


# --- 3: budgets hold inside a turn -------------------------------------------------------------

def test_tool_calls_past_the_time_budget_are_not_run(bench):
    bench.canary()
    sleeps = calls(*[tool_call("shell", {"command": "sleep 0.7"}) for _ in range(5)])
    with ScriptedServer(agent_only(sleeps)) as server:
        result = bench.run(server, "--agentbench-max-seconds", "2")
    assert result.parseoutcomes()["budget"] == 1
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "budget_time" and attempt["turns"] == 1
    assert "while running tool calls" in attempt["detail"] and "calls of turn 1 not run" in attempt["detail"]
    assert attempt["tool_calls"] == 5


# --- 4: context overflow -----------------------------------------------------------------------

def test_a_context_overflow_the_model_built_is_budget_tokens(bench):
    bench.canary()
    script = agent_only(calls(tool_call("list_dir", {"path": "."})), http_error(400, OVERFLOW))
    with ScriptedServer(script) as server:
        result = bench.run(server)
    assert result.parseoutcomes()["budget"] == 1
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "budget_tokens" and attempt["stop_reason"] == "budget_tokens"
    assert attempt["detail"].startswith("context_overflow: after 1 turn")
    assert OVERFLOW in attempt["detail"]


def test_a_context_overflow_on_the_first_request_is_an_infra_error(bench):
    bench.canary()
    with ScriptedServer(agent_only(http_error(400, OVERFLOW))) as server:
        result = bench.run(server)
    result.assert_outcomes(errors=1)
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "infra_error"
    assert "model server fault: context_overflow: the first request" in attempt["detail"]
