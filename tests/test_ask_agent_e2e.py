"""ask_agent(task): a helper conversation with the same model, read-only unless the canary sets
ask_agent_writes, paid from the attempt's budget, recorded in the transcript. The scripted model
tells the helper's requests from the attempt's by their system prompt."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_agentbench.agent.sub_agent import HELPER_SYSTEM_PROMPT
from pytest_agentbench.testing import END_OF_SCRIPT, ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE, agent_requests, canary_toml

WRITE_HELLO = call("write_file", path="hello.py", content=HELLO_SOURCE)
NOTES = {"README.md": "# demo\n", "notes.txt": "hello() must return 'hi'\n"}


def is_helper(body: dict) -> bool:
    return body["messages"][0]["content"] == HELPER_SYSTEM_PROMPT


def two_scripts(main: list[dict], helper: list[dict]):
    """One scripted model answering the attempt's conversation and the helper's, each by its own
    turn count."""
    def reply(body: dict) -> dict:
        script = helper if is_helper(body) else main
        turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
        return script[turn] if turn < len(script) else say(END_OF_SCRIPT)
    return reply


def transcript(attempt: dict) -> list[dict]:
    return [json.loads(line) for line in Path(attempt["transcript"]).read_text().splitlines()]


def test_the_helpers_answer_is_the_tool_result_and_its_turns_count(bench):
    bench.canary(repo=NOTES, toml=canary_toml(extra='tools = ["ask_agent", "write_file"]'))
    main = [call("ask_agent", task="What must hello() return? Look at notes.txt."),
            WRITE_HELLO, say("Done.")]
    helper = [call("read_file", path="notes.txt"), say("It must return 'hi'.")]
    with ScriptedServer(two_scripts(main, helper)) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    attempt = bench.report()["attempts"][0]
    assert attempt["turns"] == 5  # 3 of the attempt's own, 2 of its helper
    requests = agent_requests(server)
    helper_requests = [r for r in requests if is_helper(r)]
    assert len(helper_requests) == 2
    assert [t["function"]["name"] for t in helper_requests[0]["tools"]] == [
        "read_file", "list_dir", "glob", "grep", "batch_read"]
    assert helper_requests[0]["messages"][1] == {
        "role": "user", "content": "What must hello() return? Look at notes.txt."}
    main_requests = [r for r in requests if not is_helper(r)]
    assert main_requests[1]["messages"][-1]["content"] == "It must return 'hi'."
    (entry,) = attempt["sub_agents"]
    assert 0 < entry["prompt_tokens"] < attempt["prompt_tokens"]  # the helper's are in the total
    assert entry["stop_reason"] == "final" and entry["turns"] == 2 and entry["tool_calls"] == 1
    assert attempt["tool_stats"] == {"ask_agent": {"calls": 1, "errors": 0},
                                     "write_file": {"calls": 1, "errors": 0}}
    events = transcript(attempt)
    marked = [e for e in events if e.get("sub_agent") == 1]
    assert [e["event"] for e in marked] == ["start", "turn", "turn", "stop"]
    assert marked[0]["tools"] == ["read_file", "list_dir", "glob", "grep", "batch_read"]


def test_a_read_only_helper_cannot_write(bench):
    bench.canary(repo=NOTES, toml=canary_toml(extra='tools = ["ask_agent", "write_file"]'))
    main = [call("ask_agent", task="Create hello.py."), say("Done.")]
    helper = [WRITE_HELLO, say("I could not write it.")]
    with ScriptedServer(two_scripts(main, helper)) as server:
        bench.run(server)
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "phantom"
    # The helper's malformed call is its own; the attempt's statistics are of its own calls.
    assert attempt["sub_agents"][0]["tool_calls"] == 1
    helper_tool_message = [r for r in agent_requests(server) if is_helper(r)][1]["messages"][-1]
    assert helper_tool_message["content"].startswith("Error: unknown tool 'write_file'")


def test_ask_agent_writes_lets_the_helper_change_the_tree(bench):
    bench.canary(repo=NOTES, toml=canary_toml(extra='tools = ["ask_agent", "write_file"]\n'
                                                    'ask_agent_writes = true'))
    main = [call("ask_agent", task="Create hello.py."), say("Done.")]
    helper = [WRITE_HELLO, say("Created hello.py.")]
    with ScriptedServer(two_scripts(main, helper)) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    helper_tools = [t["function"]["name"] for t in
                    next(r for r in agent_requests(server) if is_helper(r))["tools"]]
    assert helper_tools == ["read_file", "write_file", "edit_file", "apply_patch", "list_dir",
                            "glob", "grep", "shell", "batch_read"]


def test_the_helper_gets_only_the_budget_the_attempt_has_left(bench):
    toml = canary_toml(extra='tools = ["ask_agent", "write_file"]') + "[budget]\nturns = 4\n"
    bench.canary(repo=NOTES, toml=toml)
    main = [call("ask_agent", task="Look around."), WRITE_HELLO, say("Done.")]
    helper = [call("list_dir")] * 10  # never answers
    with ScriptedServer(two_scripts(main, helper)) as server:
        bench.run(server)
    attempt = bench.report()["attempts"][0]
    # 1 turn of its own, then the helper spent the 3 left: the attempt's turn budget is gone.
    assert attempt["outcome"] == "budget_turns" and attempt["turns"] == 4
    assert attempt["sub_agents"][0]["stop_reason"] == "budget_turns"
    assert attempt["sub_agents"][0]["turns"] == 3
    assert len([r for r in agent_requests(server) if is_helper(r)]) == 3
    assert attempt["tool_stats"]["ask_agent"] == {"calls": 1, "errors": 1}
