"""The knobs auto_tool_call_on_failure and cache: each one's effect on the loop's messages and
transcript, or on the request body, and both swept as variants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_agentbench.agent.knobs import AgentKnobs
from pytest_agentbench.agent.loop import AgentLoop
from pytest_agentbench.agent.tools import ToolContext
from pytest_agentbench.sandbox.commands import command_env
from pytest_agentbench.schemas.canary import ResolvedBudget
from pytest_agentbench.servers.client import ChatClient, ClientSettings
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE, agent_requests
from tests.test_fair_limits_e2e import LLAMA_PROPS, registry

WRITE = call("write_file", path="hello.py", content=HELLO_SOURCE)


class Events(list):
    def write(self, event: dict) -> None:
        self.append(json.loads(json.dumps(event)))


def run_loop(tmp_path: Path, script: list[dict], knobs: AgentKnobs):
    root = tmp_path / "wt"
    root.mkdir()
    (root / "README.md").write_text("# demo\n")
    events = Events()
    with ScriptedServer(script) as server:
        client = ChatClient(ClientSettings(base_url=server.url, model="m", retries=1, backoff=0.01,
                                           knobs=knobs))
        loop = AgentLoop(client, ToolContext(root, command_env(tmp_path), lambda: 30.0),
                         ResolvedBudget(turns=10, tokens=10**9, seconds=30), transcript=events)
        result = loop.run("do the task")
        client.close()
    return result, server.requests, events


def test_auto_tool_call_on_failure_lists_the_root_for_a_model_that_stops_short(tmp_path):
    knobs = AgentKnobs(min_tool_calls=2, auto_tool_call_on_failure=True)
    result, requests, events = run_loop(tmp_path, [say("Done."), WRITE, say("Done.")], knobs)
    assert result.stop_reason == "final"
    nudge = requests[1]["messages"][-1]
    assert nudge["role"] == "user"
    assert nudge["content"].startswith("You have made 0 tool calls; finish only after at least 2")
    assert nudge["content"].endswith(
        "To get you started, the harness called list_dir(path='.') for you. Its result:\nREADME.md")
    # Counted as help the harness gave, not as a call the model made.
    assert dict(result.nudges) == {"min_tool_calls": 1, "auto_tool_call_on_failure": 1}
    assert result.tool_calls == 1 and dict(result.stats.calls) == {"write_file": 1}
    (auto,) = [e for e in events if e["event"] == "auto_tool_call"]
    assert auto == {"event": "auto_tool_call", "turn": 1, "tool": "list_dir",
                    "arguments": {"path": "."}, "result": "README.md"}
    assert events[0]["knobs"]["auto_tool_call_on_failure"] is True


def test_without_the_knob_the_nudge_comes_alone(tmp_path):
    result, requests, events = run_loop(tmp_path, [say("Done."), WRITE, say("Done.")],
                                        AgentKnobs(min_tool_calls=2))
    assert "the harness called" not in requests[1]["messages"][-1]["content"]
    assert dict(result.nudges) == {"min_tool_calls": 1}
    assert not [e for e in events if e["event"] == "auto_tool_call"]


def test_auto_tool_call_on_failure_is_sweepable(bench):
    bench.canary()
    registry(bench, min_tool_calls=2)
    with ScriptedServer([say("Done."), WRITE, say("Done.")]) as server:
        result = bench.run(server, "--agentbench-sweep", "auto_tool_call_on_failure=true,false")
    result.assert_outcomes(passed=2)
    by_variant = {a["variant"]: a for a in bench.report()["attempts"]}
    assert by_variant["auto_tool_call_on_failure=true"]["nudges"] == {
        "min_tool_calls": 1, "auto_tool_call_on_failure": 1}
    assert by_variant["auto_tool_call_on_failure=false"]["nudges"] == {"min_tool_calls": 1}
    agent = bench.report()["settings"]["agent"]["m"]
    assert agent["auto_tool_call_on_failure"] is False and agent["cache"] is None


def test_cache_reaches_llama_cpp_as_cache_prompt(bench):
    bench.canary()
    with ScriptedServer([WRITE, say("Done.")], routes={"/props": LLAMA_PROPS}) as server:
        result = bench.run(server, "--agentbench-sweep", "cache=true,false")
    result.assert_outcomes(passed=2)
    sent = sorted(r["cache_prompt"] for r in agent_requests(server))
    assert sent == [False, False, True, True]
    assert "cache = " not in result.stdout.str()  # no warning: the server has the switch


def test_cache_elsewhere_is_not_sent_and_warned_about_once(bench):
    bench.canary()
    registry(bench, cache=False)
    with ScriptedServer([WRITE, say("Done.")]) as server:
        result = bench.run(server, "--repeats", "2")
    result.assert_outcomes(passed=2)
    assert all("cache_prompt" not in r for r in agent_requests(server))
    out = result.stdout.str()
    assert out.count("m: cache = false is not sent: the server (openai-compatible) has no "
                     "per-request prompt-cache switch") == 1


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_bad_cache_values_are_usage_errors(bench, value):
    bench.canary()
    with ScriptedServer([WRITE, say("Done.")]) as server:
        result = bench.run(server, "--agentbench-sweep", f"cache={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
