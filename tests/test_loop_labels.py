"""The loop's labels, against a real loopback server: what counts as a claim of being done, what
counts as tool confusion, which server replies are infra errors, budgets inside one turn, and
context overflow (the model's ceiling unless the very first request overflows)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pytest_agentbench.agent import tools
from pytest_agentbench.agent.loop import AgentLoop
from pytest_agentbench.agent.tools import ToolContext, ToolError
from pytest_agentbench.sandbox.commands import command_env
from pytest_agentbench.schemas.canary import ResolvedBudget
from pytest_agentbench.servers.client import ChatClient, ChatResponse, ClientSettings
from pytest_agentbench.testing import (
    Script,
    ScriptedServer,
    call,
    calls,
    http_error,
    raw,
    say,
    tool_call,
)

OVERFLOW = "the request exceeds the available context size, try increasing it"
NOT_RUN = "Error: time budget exhausted; this call was not run"


@pytest.fixture
def loop_for(tmp_path: Path):
    """``loop_for(server, tools=..., seconds=..., loop_class=...)`` → an AgentLoop in a fresh
    directory, talking to ``server``; clients are closed at teardown."""
    clients: list[ChatClient] = []

    def make(server: ScriptedServer, tools: list[str] | None = None, seconds: float = 30,
             loop_class: type[AgentLoop] = AgentLoop) -> AgentLoop:
        root = tmp_path / "wt"
        root.mkdir(exist_ok=True)
        client = ChatClient(ClientSettings(base_url=server.url, model="m", retries=1, backoff=0.01))
        clients.append(client)
        context = ToolContext(root, command_env(tmp_path), lambda: seconds)
        return loop_class(client, context, ResolvedBudget(turns=20, tokens=10**9, seconds=seconds),
                          tools=tools)

    yield make
    for client in clients:
        client.close()


def run(loop_for, script: Script, **options):
    with ScriptedServer(script) as server:
        loop = loop_for(server, **options)
        return loop, loop.run("do the task")


# --- 1a: an empty reply is not a claim of being done -------------------------------------------

def test_a_final_message_claims_done(loop_for):
    _, result = run(loop_for, [say("All done: hello.py is written.")])
    assert result.stop_reason == "final" and result.claimed and result.claimed_done


@pytest.mark.parametrize(("reply", "why"), [
    (say("", reasoning_content="I think the task is finished."), "text only in the reasoning field"),
    (say("  \n", reasoning="Thinking... done."), "text only in the reasoning field"),
    (say(None), "no text"),
])
def test_an_empty_reply_ends_the_loop_without_claiming_done(loop_for, reply, why):
    _, result = run(loop_for, [reply])
    assert result.stop_reason == "final" and not result.claimed_done
    assert "empty reply" in result.detail and why in result.detail


def test_resume_forgets_the_previous_claim(loop_for):
    with ScriptedServer([say("Done."), say("", reasoning_content="hmm")]) as server:
        loop = loop_for(server)
        assert loop.run("task").claimed_done
        assert not loop.resume("the checks fail").claimed_done


# --- 1b/1c: tool confusion in the reasoning field; only offered tools count --------------------

CALL_JSON = '{"name": "write_file", "arguments": {"path": "hello.py", "content": "x"}}'


def test_tool_call_json_in_the_reasoning_field_is_confusion(loop_for):
    _, result = run(loop_for, [say("", reasoning_content=f"I will call {CALL_JSON}")])
    assert result.stop_reason == "tool_confusion" and not result.claimed_done
    assert "'write_file'" in result.detail and "reasoning field" in result.detail


def test_reasoning_json_does_not_matter_when_the_content_is_a_real_answer(loop_for):
    _, result = run(loop_for, [say("Finished.", reasoning_content=f"maybe {CALL_JSON}")])
    assert result.stop_reason == "final" and result.claimed_done


@pytest.mark.parametrize("field", ["content", "reasoning_content"])
def test_json_naming_a_tool_that_was_not_offered_is_a_final_message(loop_for, field):
    text = '{"name": "shell", "arguments": {"command": "pytest"}}'
    reply = say(text) if field == "content" else say("", reasoning_content=text)
    _, result = run(loop_for, [reply], tools=["read_file", "write_file"])
    assert result.stop_reason == "final"
    assert result.claimed_done is (field == "content")


def test_json_naming_an_alias_of_an_offered_tool_is_confusion(loop_for):
    _, result = run(loop_for, [say('{"name": "cat", "arguments": {"file_path": "a.py"}}')],
                    tools=["read_file"])
    assert result.stop_reason == "tool_confusion" and "'cat'" in result.detail


# --- 2: protocol violations are the server's, per-call problems the model's --------------------

def body(message: object, usage: object = "none") -> dict:
    reply: dict = {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    if usage != "none":
        reply["usage"] = usage
    return reply


@pytest.mark.parametrize(("reply", "named"), [
    (raw(body({"role": "assistant", "content": "", "tool_calls": "abc"})),
     "choices[0].message.tool_calls is a str, not a list"),
    (raw(body(None)), "choices[0].message is null"),
    (raw({"choices": []}), "choices is empty"),
    (raw(body({"role": "assistant", "content": "ok"}, {"prompt_tokens": -1e9, "completion_tokens": 1})),
     "usage.prompt_tokens is -1000000000.0"),
])
def test_protocol_violations_end_the_loop_as_infra_errors(loop_for, reply, named):
    _, result = run(loop_for, [reply])
    assert result.stop_reason == "infra_error" and result.infra_kind == "protocol_violation"
    assert result.detail.startswith("protocol violation: ") and named in result.detail
    assert result.malformed_tool_calls == 0 and result.tool_calls == 0 and not result.claimed_done
    assert result.prompt_tokens == 0  # nothing counted from a reply that broke the protocol


def test_a_call_entry_missing_function_stays_malformed(loop_for):
    broken = {"content": "", "tool_calls": [{"id": "c1", "type": "function"}]}
    _, result = run(loop_for, [broken] * 3)
    assert result.stop_reason == "malformed" and result.malformed_tool_calls == 3


def test_token_accounting_never_goes_down(loop_for):
    with ScriptedServer([]) as server:
        loop = loop_for(server)
    loop.messages = [{"role": "user", "content": "x"}]
    loop._account(ChatResponse(content="a", tool_calls=[], reasoning=None, finish_reason="stop",
                               prompt_tokens=-50, completion_tokens=-1, seconds=0.0,
                               timings={"predicted_n": -5, "predicted_ms": 10, "cache_n": -3}))
    result = loop.result
    assert (result.prompt_tokens, result.completion_tokens) == (0, 0)
    assert (result.server_predicted_tokens, result.cached_prompt_tokens) == (0, 0)


# --- 3: budgets hold inside a turn -------------------------------------------------------------

class ScriptedClock(AgentLoop):
    """Time left, read once per check: the step's check, then one per tool call."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.left = [5.0, 5.0, 5.0, -0.1]

    def remaining_seconds(self) -> float:
        return self.left.pop(0) if self.left else -1.0


def test_calls_after_the_deadline_are_answered_but_not_run(loop_for, tmp_path):
    writes = [tool_call("write_file", {"path": f"{name}.txt", "content": name}) for name in "abcd"]
    loop, result = run(loop_for, [calls(*writes)], loop_class=ScriptedClock)
    assert result.stop_reason == "budget_time"
    assert "2 of 4 calls of turn 1 not run" in result.detail
    assert sorted(p.name for p in (tmp_path / "wt").iterdir()) == ["a.txt", "b.txt"]
    # one tool message per call id, in order: the conversation stays valid for the server
    ids = [entry["id"] for entry in loop.messages[-5]["tool_calls"]]
    answers = loop.messages[-4:]
    assert [m["tool_call_id"] for m in answers] == ids
    assert [m["content"] == NOT_RUN for m in answers] == [False, False, True, True]
    assert result.tool_calls == 4


def test_a_reply_of_slow_commands_stops_at_the_deadline(loop_for):
    sleeps = [tool_call("shell", {"command": "sleep 0.6"}) for _ in range(5)]
    started = time.monotonic()
    loop, result = run(loop_for, [calls(*sleeps)], seconds=1.5)
    elapsed = time.monotonic() - started
    assert result.stop_reason == "budget_time"
    answers = [m for m in loop.messages if m["role"] == "tool"]
    assert len(answers) == 5 and answers[-1]["content"] == NOT_RUN
    assert elapsed < 1.5 + 0.5  # the last command run was cut at the deadline, not after it


def test_the_shell_timeout_never_outlives_the_budget(tmp_path):
    context = ToolContext(tmp_path, command_env(tmp_path), lambda: 0.3)
    started = time.monotonic()
    assert tools.shell(context, "sleep 5", timeout=100).startswith("[timed out]")
    assert time.monotonic() - started < 0.9  # it used to get at least a whole second
    context.remaining_seconds = lambda: 0.0
    with pytest.raises(ToolError, match="time budget exhausted"):
        tools.shell(context, "echo never")


# --- 4: context overflow -----------------------------------------------------------------------

@pytest.mark.parametrize("overflow", [
    http_error(400, OVERFLOW),
    {"status": 400, "body": {"error": {"message": "too long", "code": "context_length_exceeded"}}},
    raw({"error": {"message": "This model's maximum context length is 4096 tokens"}}),
])
def test_overflow_of_a_conversation_the_model_built_is_its_token_ceiling(loop_for, overflow):
    with ScriptedServer([call("list_dir", path="."), overflow]) as server:
        result = loop_for(server).run("task")
    assert result.stop_reason == "budget_tokens" and result.turns == 1
    assert result.detail.startswith("context_overflow: after 1 turn the conversation")
    assert len(server.requests) == 2  # the overflow was not retried


def test_overflow_on_the_first_request_is_an_infra_error(loop_for):
    _, result = run(loop_for, [http_error(400, OVERFLOW)])
    assert result.stop_reason == "infra_error" and result.infra_kind == "context_overflow"
    assert result.detail.startswith("context_overflow: the first request") and OVERFLOW in result.detail


def test_overflow_on_the_first_request_of_a_second_try_is_the_models(loop_for):
    with ScriptedServer([say("Done."), http_error(400, OVERFLOW)]) as server:
        loop = loop_for(server)
        loop.run("task")
        result = loop.resume("the checks fail")
    assert result.stop_reason == "budget_tokens" and result.detail.startswith("context_overflow: ")
