"""The echo factor: with echo on, the task is restated as a user reminder at the end of the
conversation before each model turn after the first. Its effect on the loop's messages, the
requests a scripted server sees (a sweep, a registry entry), the OFAT table, and its refusal for
external agents, whose own program builds the conversation."""

from __future__ import annotations

import pytest

from pytest_agentbench.agent.knobs import AgentKnobs
from pytest_agentbench.agent.loop import ECHO_REMINDER
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE, agent_requests
from tests.test_agents_e2e import REGISTRY as AGENTS_REGISTRY
from tests.test_fair_limits_e2e import registry
from tests.test_more_knobs_e2e import WRITE, run_loop
from tests.test_tier_up_e2e import repeat_of

TASK = "Create hello.py with a function hello() that returns 'hi'."
REMINDER = ECHO_REMINDER.format(task=TASK)
LOOK = call("list_dir", path=".")


def reminders(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"]
            if m["role"] == "user" and "Reminder of the task:" in (m.get("content") or "")]


def test_echo_restates_the_task_before_each_turn_after_the_first(tmp_path):
    result, requests, events = run_loop(tmp_path, [LOOK, WRITE, say("Done.")], AgentKnobs(echo=True))
    assert result.stop_reason == "final" and len(requests) == 3
    assert reminders(requests[0]) == []  # the first turn has the task itself
    for turn, request in enumerate(requests[1:], start=1):
        last = request["messages"][-1]
        assert last == {"role": "user", "content": "Reminder of the task:\ndo the task"}
        assert len(reminders(request)) == turn  # append-only: earlier reminders stay where they were
    # the history a turn sent is a prefix of the next turn's: the server's prefix cache still works
    assert requests[2]["messages"][:len(requests[1]["messages"])] == requests[1]["messages"]
    echoed = [e for e in events if e["event"] == "echo"]
    assert [e["turn"] for e in echoed] == [1, 2]
    assert events[0]["knobs"]["echo"] is True


def test_echo_joins_a_nudge_rather_than_adding_a_second_user_message(tmp_path):
    result, requests, _ = run_loop(tmp_path, [say("Done."), WRITE, say("Done.")],
                                   AgentKnobs(echo=True, min_tool_calls=1))
    assert result.stop_reason == "final" and dict(result.nudges) == {"min_tool_calls": 1}
    roles = [m["role"] for m in requests[1]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    nudge = requests[1]["messages"][-1]["content"]
    assert nudge.startswith("You have made 0 tool calls") and nudge.endswith(
        "\n\nReminder of the task:\ndo the task")


def test_without_echo_the_conversation_has_no_reminder(tmp_path):
    _, requests, events = run_loop(tmp_path, [LOOK, WRITE, say("Done.")], AgentKnobs())
    assert all(reminders(r) == [] for r in requests)
    assert not [e for e in events if e["event"] == "echo"] and events[0]["knobs"]["echo"] is False


def needs_the_reminder(body: dict) -> dict:
    """Looks around first; writes the right file only when the task was restated to it. The final
    message differs per repeat: repeats are distinct samples."""
    messages = body["messages"]
    turn = sum(1 for m in messages if m["role"] == "assistant")
    if turn == 0:
        return LOOK
    if turn > 1:
        return say(f"Done (repeat {repeat_of(body)}).")
    reminded = REMINDER in (messages[-1].get("content") or "")
    return call("write_file", path="hello.py",
                content=HELLO_SOURCE if reminded else "def hello():\n    return 'no'\n")


def test_a_sweep_of_echo_reaches_the_requests_only_when_on(bench):
    bench.canary(prompt=TASK)
    with ScriptedServer(needs_the_reminder) as server:
        result = bench.run(server, "--agentbench-sweep", "echo=off,on")
        requests = agent_requests(server)
    result.assert_outcomes(passed=1, failed=1)
    by_variant = {a["variant"]: a["outcome"] for a in bench.report()["attempts"]}
    assert by_variant == {"echo=off": "failed", "echo=on": "passed"}
    assert bench.report()["settings"]["variants"] == {"echo=off": {"echo": "off"}, "echo=on": {"echo": "on"}}
    # echo on: every request after the first ends with the reminder; echo off: none has it
    with_reminder = [r for r in requests if reminders(r)]
    assert len(with_reminder) == 2  # turns 2 and 3 of the echo=on attempt
    assert all(r["messages"][-1]["content"] == REMINDER for r in with_reminder)
    assert len(requests) - len(with_reminder) == 3 + 1  # echo=off's 3 turns, echo=on's first


def test_echo_in_a_registry_entry(bench):
    bench.canary(prompt=TASK)
    registry(bench, echo=True)
    with ScriptedServer(needs_the_reminder) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    assert bench.report()["settings"]["agent"]["m"]["echo"] is True


def test_echo_is_an_ofat_factor_with_its_row_in_the_table(bench):
    bench.canary(prompt=TASK)
    with ScriptedServer(needs_the_reminder) as server:
        result = bench.run(server, "--agentbench-ofat", "echo=on", repeats=3)
    result.stdout.fnmatch_lines(["*= agentbench OFAT =*",
                                 "m: baseline 0/3 = 0.00",
                                 "  echo * on * 3   3  1.00  +1.00 *[[]+0.*, +1.00]  better",
                                 "  winners: echo=on"])
    table = bench.report()["ofat"]
    assert table["winners"] == {"m": {"echo": "on"}}
    assert [(c["factor"], c["value"], c["variant"], c["c"], c["n"]) for c in table["cells"]] == [
        ("echo", "on", "echo=on", 3, 3)]


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_a_bad_echo_value_is_a_usage_error(bench, value):
    bench.canary()
    with ScriptedServer([WRITE, say("Done.")]) as server:
        result = bench.run(server, "--agentbench-sweep", f"echo={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--agentbench-sweep: echo={value}: *"])


def test_echo_is_refused_for_an_external_agent(bench):
    (bench.pytester.path / "agentbench.toml").write_text(AGENTS_REGISTRY)
    bench.canary()
    with ScriptedServer([WRITE, say("Done.")]) as server:
        result = bench.run(server, "--agentbench-agent", "tiny", "--agentbench-sandbox", "none",
                           "--agentbench-sweep", "echo=off,on")
        assert agent_requests(server) == []
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([("*--agentbench-agent tiny: the variant 'echo=off' of m sets echo, "
                                  "which an external agent's own program decides*")])
