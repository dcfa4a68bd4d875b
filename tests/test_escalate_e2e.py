"""The escalate tool and the `escalated` outcome, end to end: a model that hands the task back is
`escalated` with its reason recorded; one that did the work and then escalated still passes
(verification runs as after any final message); a model that was not offered the tool gets the
same malformed-call answer as for any unknown tool."""

from __future__ import annotations

import pytest

from pytest_agentbench.attempt.outcome import Outcome, classify
from pytest_agentbench.testing import ScriptedServer, call, calls, say, tool_call
from tests.conftest import HELLO_SOURCE, agent_requests, canary_toml

WRITE_HELLO = call("write_file", path="hello.py", content=HELLO_SOURCE)
REASON = "The task names a service I cannot reach from here."


def offered(server: ScriptedServer) -> list[str]:
    return [t["function"]["name"] for t in agent_requests(server)[0]["tools"]]


def test_classify_puts_escalated_after_tampered_and_before_the_ceilings():
    assert classify("escalated", False, False) is Outcome.ESCALATED
    assert classify("escalated", False, True) is Outcome.ESCALATED  # not `failed`
    assert classify("escalated", True, True) is Outcome.PASSED
    assert classify("escalated", False, True, touched_protected=True) is Outcome.TAMPERED
    assert Outcome.ESCALATED.pytest_status == "failed"


@pytest.mark.parametrize("sandbox", [None, "none"])
def test_a_model_that_escalates_is_escalated_with_its_reason(bench, sandbox):
    bench.canary(toml=canary_toml(extra="escalate = true"))
    # A call after escalate in the same reply is not run.
    script = [calls(tool_call("hand_back", {"reason": REASON}), tool_call("list_dir", {}))]
    args = ("--agentbench-sandbox", sandbox) if sandbox else ()
    with ScriptedServer(script) as server:
        result = bench.run(server, *args)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ESCALATED*"])
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "escalated" and attempt["stop_reason"] == "escalated"
    assert attempt["escalation_reason"] == REASON
    assert attempt["detail"].startswith(f"the model escalated: {REASON}")
    assert attempt["claimed_done"] is False and attempt["turns"] == 1
    assert attempt["tool_stats"] == {"escalate": {"calls": 1, "errors": 0},
                                     "list_dir": {"calls": 1, "errors": 1}}
    # Offered in addition to the default tools.
    assert offered(server) == ["read_file", "write_file", "edit_file", "apply_patch", "list_dir",
                               "glob", "grep", "shell", "escalate"]
    aggregate = bench.report()["aggregates"][0]
    assert aggregate["outcomes"] == {"escalated": 1} and aggregate["escalation_rate"] == 1.0
    assert aggregate["phantom_rate"] == 0.0


@pytest.mark.parametrize("sandbox", [None, "none"])
def test_a_model_that_solved_the_task_then_escalated_still_passes(bench, sandbox):
    bench.canary(toml=canary_toml(extra='tools = ["write_file", "defer"]'))
    args = ("--agentbench-sandbox", sandbox) if sandbox else ()
    with ScriptedServer([WRITE_HELLO, call("escalate", reason="Not sure it is right.")]) as server:
        result = bench.run(server, *args)
    result.assert_outcomes(passed=1)
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "passed" and attempt["stop_reason"] == "escalated"
    assert attempt["escalation_reason"] == "Not sure it is right."
    assert offered(server) == ["write_file", "escalate"]


def test_a_second_try_is_not_offered_after_escalating(bench):
    bench.canary(toml=canary_toml(extra="escalate = true\nretries_with_feedback = 1"))
    with ScriptedServer([call("escalate", reason=REASON)]) as server:
        bench.run(server)
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "escalated" and len(attempt["tries"]) == 1
    assert len(agent_requests(server)) == 1


def test_the_registry_models_tools_list_opts_in(bench):
    bench.canary(toml=canary_toml(extra='tools = ["write_file", "read_file"]'))
    (bench.pytester.path / "agentbench.toml").write_text(
        '[models.m]\ntools = ["write_file", "escalate"]\n')
    with ScriptedServer([call("escalate", reason=REASON)]) as server:
        bench.run(server)
    # The model's subset narrows the canary's default tools; the opt-in tool comes from either.
    assert offered(server) == ["write_file", "escalate"]
    assert bench.report()["attempts"][0]["outcome"] == "escalated"


def test_not_offered_unless_opted_in_so_calling_it_is_malformed(bench):
    bench.canary()
    with ScriptedServer([call("escalate", reason=REASON), say("Done.")]) as server:
        bench.run(server)
    assert "escalate" not in offered(server)
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "phantom" and attempt["escalation_reason"] is None
    assert attempt["malformed_tool_calls"] == 1
    assert attempt["tool_stats"] == {"escalate": {"calls": 1, "errors": 1}}
    tool_message = agent_requests(server)[1]["messages"][-1]["content"]
    assert tool_message.startswith("Error: unknown tool 'escalate'; available tools: ")


def test_escalate_must_be_a_boolean(bench):
    bench.canary(toml=canary_toml(extra='escalate = "yes"'))
    result = bench.pytester.runpytest("canaries", "--models", "m@http://127.0.0.1:9/v1",
                                      "-p", "no:cacheprovider")
    assert result.ret != pytest.ExitCode.OK
    assert "field 'escalate': Input should be a valid boolean" in result.stdout.str() + result.stderr.str()
