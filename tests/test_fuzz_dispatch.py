"""Property-based: whatever a model sends — any tool name, any argument text or object, any
reply shape — the loop's dispatcher answers with tool results or ends the loop by its own rules;
no exception escapes. (`shell` is left out: random commands must not run on the test machine.)"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_agentbench.agent.loop import AgentLoop, LoopStop
from pytest_agentbench.agent.tools import TOOL_ALIASES, ToolContext
from pytest_agentbench.sandbox.commands import command_env
from pytest_agentbench.schemas.canary import ResolvedBudget
from pytest_agentbench.servers.client import ChatClient, ChatResponse, ClientSettings, RawToolCall

TOOLS = ["read_file", "write_file", "edit_file", "apply_patch", "list_dir", "glob", "grep"]
names = st.one_of(st.sampled_from(TOOLS + sorted(TOOL_ALIASES) + ["shell", "", "rm"]), st.text(max_size=20))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=10,
)
path_like = st.sampled_from(["a.py", "../x", "/etc/passwd", ".git/config", "sub/b.txt", "", ".", "a.py/.."])
argument_objects = st.dictionaries(
    st.sampled_from(["path", "content", "old", "new", "pattern", "patch", "start_line", "end_line",
                     "file_path", "cmd", "extra"]),
    st.one_of(path_like, json_values), max_size=4)
arguments = st.one_of(argument_objects, argument_objects.map(json.dumps), st.text(max_size=40), json_values)
calls = st.lists(st.builds(RawToolCall, id=st.one_of(st.none(), st.text(max_size=8)), name=st.one_of(st.none(), names),
                           arguments=arguments), max_size=4)
responses = st.builds(
    ChatResponse, content=st.one_of(st.none(), st.text(max_size=60)), tool_calls=calls,
    reasoning=st.one_of(st.none(), st.text(max_size=20)),
    finish_reason=st.sampled_from([None, "stop", "length", "tool_calls", "weird"]),
    prompt_tokens=st.one_of(st.none(), st.integers(0, 100)), completion_tokens=st.one_of(st.none(), st.integers(0, 100)),
    seconds=st.just(0.0),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(response=responses)
# Found by this test: "" arguments (tolerated as no arguments) went back into the history as "".
@example(response=ChatResponse(content=None, tool_calls=[RawToolCall(id="a", name="list_dir", arguments="")],
                               reasoning=None, finish_reason="tool_calls", prompt_tokens=None,
                               completion_tokens=None, seconds=0.0))
def test_no_model_reply_raises_out_of_the_dispatcher(tmp_path: Path, response: ChatResponse):
    root = tmp_path / "wt"
    root.mkdir(exist_ok=True)
    (root / "a.py").write_text("x = 1\n")
    client = ChatClient(ClientSettings(base_url="http://127.0.0.1:9/v1", model="m"))
    loop = AgentLoop(client, ToolContext(root, command_env(tmp_path), lambda: 30.0),
                     ResolvedBudget(turns=10, tokens=10**9, seconds=30), tools=TOOLS)
    loop.messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    try:
        loop.execute(response)
    except LoopStop as stop:
        assert stop.reason in {"final", "tool_confusion", "budget_tokens", "malformed"}
    finally:
        client.close()
    # every call got exactly one tool message, and the history stays valid JSON for the server
    tool_messages = [m for m in loop.messages if m["role"] == "tool"]
    assistant = [m for m in loop.messages if m["role"] == "assistant"]
    # either the loop stopped before running the calls, or every call got exactly one answer
    assert len(tool_messages) in (0, len(response.tool_calls))
    call_ids = [entry["id"] for m in assistant for entry in m.get("tool_calls", [])]
    assert len(set(call_ids)) == len(call_ids)
    if tool_messages:
        assert [m["tool_call_id"] for m in tool_messages] == call_ids
    for message in assistant:
        for entry in message.get("tool_calls", []):
            assert isinstance(json.loads(entry["function"]["arguments"]), dict)
    json.dumps(loop.messages)
    assert loop.result.malformed_tool_calls <= loop.result.tool_calls
