"""External agents behind the recording proxy (first part): a real agent program
(tests/agents/tiny_agent.py) run in the attempt's sandbox, both tiers, against ScriptedServer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pytest_agentbench.external.proxy import RecordingProxy
from pytest_agentbench.external.run import run_external_agent
from pytest_agentbench.external.sse import reassemble_stream
from pytest_agentbench.run.session import JsonlTranscript
from pytest_agentbench.sandbox.commands import Sandbox, bubblewrap_problem, command_env
from pytest_agentbench.schemas.canary import ResolvedBudget
from pytest_agentbench.testing import ScriptedServer, call, say

AGENT = Path(__file__).parent / "agents" / "tiny_agent.py"
COMMAND = [sys.executable, str(AGENT), "{prompt}"]
ENV = {"OPENAI_BASE_URL": "{base_url}", "OPENAI_API_KEY": "{api_key}"}
tiers = pytest.mark.parametrize("jail", [
    pytest.param(True, marks=pytest.mark.skipif(bool(bubblewrap_problem()), reason="no bubblewrap"),
                 id="bubblewrap"),
    pytest.param(False, id="none")])


def run(tmp_path: Path, script, jail: bool, budget: ResolvedBudget | None = None,
        env: dict[str, str] | None = None, upstream: str | None = None):
    worktree, home = tmp_path / "wt", tmp_path / "home"
    worktree.mkdir(exist_ok=True)
    home.mkdir(exist_ok=True)
    sandbox = Sandbox([worktree, home], [], jail=jail)
    transcript = JsonlTranscript(tmp_path / "t.jsonl")
    budget = budget or ResolvedBudget(turns=10, tokens=100_000, seconds=30)
    values = {"prompt": "write hello.py", "model": "m", "api_key": "sk-none"}
    base_env = {**command_env(home), **(env or {})}
    try:
        if upstream is not None:
            return run_external_agent(COMMAND, ENV, values, base_env, worktree, sandbox, upstream,
                                      budget, transcript), worktree, tmp_path / "t.jsonl"
        with ScriptedServer(script) as server:
            outcome = run_external_agent(COMMAND, ENV, values, base_env, worktree, sandbox,
                                         server.url, budget, transcript)
            outcome.requests = server.requests
            return outcome, worktree, tmp_path / "t.jsonl"
    finally:
        transcript.close()


@tiers
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_an_agent_that_solves_the_task_is_recorded_like_the_builtin_loop(tmp_path, jail, stream):
    script = [call("write_file", path="hello.py", content="print('hi')\n"), say("Done: wrote hello.py")]
    agent, worktree, transcript = run(tmp_path, script, jail, env={"AGENT_STREAM": "1" if stream else "0"})
    assert agent.exit_code == 0, agent.output
    assert (worktree / "hello.py").read_text() == "print('hi')\n"
    result = agent.result
    assert (result.stop_reason, result.turns, result.tool_calls, result.malformed_tool_calls) == ("final", 2, 1, 0)
    assert result.claimed_done and result.final_message == "Done: wrote hello.py"
    assert result.prompt_tokens > 0 and result.completion_tokens > 0 and not result.tokens_estimated
    assert dict(result.finish_reasons) == {"tool_calls": 1, "stop": 1}
    fields = result.result_fields()  # the built-in loop's per-tool statistics, from the traffic
    assert fields["tool_stats"] == {"write_file": {"calls": 1, "errors": 0}}
    assert fields["turns_with_tool_calls"] == 1 and fields["batch_sizes"] == {"1": 1}
    assert fields["completion_tokens_without_tool_calls"] > 0
    assert result.last_reply and "Done: wrote hello.py" in result.last_reply
    events = [json.loads(line) for line in transcript.read_text().splitlines()]
    turns = [e for e in events if e["event"] == "turn"]
    assert [t["response"]["tool_calls"][0]["name"] for t in turns[:1]] == ["write_file"]


@tiers
def test_a_looping_agent_is_stopped_by_the_proxy_at_the_turn_budget(tmp_path, jail):
    agent, _, _ = run(tmp_path, lambda body: call("shell", command="true"), jail,
                      budget=ResolvedBudget(turns=3, tokens=100_000, seconds=30))
    assert agent.result.stop_reason == "budget_turns" and agent.result.turns == 3
    assert len(agent.requests) == 3  # the 4th request never reached the model
    assert not agent.result.claimed_done


@tiers
def test_an_agent_that_never_stops_is_killed_at_the_deadline(tmp_path, jail):
    agent, _, _ = run(tmp_path, lambda body: call("shell", command="sleep 30"), jail,
                      budget=ResolvedBudget(turns=10, tokens=100_000, seconds=2))
    assert agent.result.stop_reason == "budget_time" and agent.killed_by == "deadline"


@tiers
def test_a_dead_model_server_is_an_infra_error(tmp_path, jail):
    with ScriptedServer([]) as server:
        dead = server.url
    agent, _, _ = run(tmp_path, None, jail, upstream=dead)
    assert agent.result.stop_reason == "infra_error", agent.result.detail
    assert "unreachable" in agent.result.detail


@pytest.mark.skipif(bool(bubblewrap_problem()), reason="no bubblewrap")
def test_a_jailed_agent_writes_nothing_outside_its_worktree_and_reaches_nothing_else(tmp_path):
    outside = tmp_path / "outside.txt"
    with ScriptedServer([]) as other:
        probe = (f"echo x > {outside}; python -c \"import urllib.request as u; "
                 f"u.urlopen('{other.url}/models', timeout=2)\" 2>&1 | tail -1")
        agent, worktree, _ = run(tmp_path, [call("shell", command=probe), say("done")], True)
        assert other.requests == []
    assert not outside.exists()
    assert agent.result.stop_reason == "final"


def test_malformed_calls_and_confusion_are_counted_from_the_traffic(tmp_path):
    proxy = RecordingProxy("http://127.0.0.1:1/v1", ResolvedBudget(turns=5, tokens=10_000, seconds=10))
    tools = [{"type": "function", "function": {"name": "shell", "parameters": {"type": "object"}}}]
    request = {"messages": [{"role": "user", "content": "x"}], "tools": tools}
    bad = {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "shell", "arguments": "{not json"}}]},
        "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    confused = {"choices": [{"message": {"role": "assistant",
                                         "content": '{"name": "shell", "arguments": {"command": "ls"}}'},
                             "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    proxy.record.account(request, bad, 0.01)
    proxy.record.account(request, confused, 0.01)
    result = proxy.record.result
    assert (result.turns, result.tool_calls, result.malformed_tool_calls) == (2, 1, 1)
    assert result.result_fields()["tool_stats"] == {"shell": {"calls": 1, "errors": 1}}
    assert result.quirks["tool_confusion"] == 1
    proxy.close()


def test_a_stream_is_reassembled_into_the_message_it_carried():
    chunks = [{"choices": [{"delta": {"content": "he"}}]}, {"choices": [{"delta": {"content": "llo"}}]},
              {"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c", "function": {"name": "sh", "arguments": '{"a"'}}]}}]},
              {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}, "finish_reason": "tool_calls"}]},
              {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 4}}]
    raw = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    body = reassemble_stream(raw.encode())
    message = body["choices"][0]["message"]
    assert message["content"] == "hello" and body["choices"][0]["finish_reason"] == "tool_calls"
    assert message["tool_calls"] == [{"type": "function", "id": "c", "function": {"name": "sh", "arguments": '{"a": 1}'}}]
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 4}
