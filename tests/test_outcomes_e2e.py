"""Every outcome of the taxonomy, produced end to end: pytest collects a canary,
a ScriptedServer plays the model over real HTTP, the loop edits a real git worktree, and the
verdict shows up in pytest's status, the failure text and the JSON report."""

from __future__ import annotations

import json

import pytest

from pytest_agentbench.testing import ScriptedServer, call, calls, http_error, say, tool_call
from tests.conftest import HELLO_SOURCE, agent_requests

WRITE_HELLO = call("write_file", path="hello.py", content=HELLO_SOURCE)


def only_attempt(bench) -> dict:
    attempts = bench.report()["attempts"]
    assert len(attempts) == 1
    return attempts[0]


def test_passed(bench):
    bench.canary()
    with ScriptedServer([WRITE_HELLO, say("Created hello.py.")]) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "passed"
    assert attempt["files_changed"] == ["hello.py"]
    assert attempt["claimed_done"] is True
    assert attempt["turns"] == 2 and attempt["tool_calls"] == 1
    # the model saw the tools and the canary prompt
    request = agent_requests(server)[0]
    assert {t["function"]["name"] for t in request["tools"]} >= {"read_file", "write_file", "shell"}
    assert "hello.py" in request["messages"][1]["content"]
    assert request["max_tokens"] and request["tool_choice"] == "auto" and "temperature" in request


def test_failed_shows_the_failing_check_output(bench):
    bench.canary(run=["python -c \"import hello; print('got', repr(hello.hello())); raise SystemExit(hello.hello() != 'hi')\""])
    wrong = call("write_file", path="hello.py", content="def hello():\n    return 'bye'\n")
    with ScriptedServer([wrong, say("Done.")]) as server:
        result = bench.run(server)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*FAILED*", "failed: *check `python -c*exited 1*", "*got 'bye'*"])
    assert only_attempt(bench)["outcome"] == "failed"


def test_phantom_claims_done_without_changing_anything(bench):
    bench.canary()
    with ScriptedServer([say("I have created hello.py with the hello function.")]) as server:
        result = bench.run(server)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*PHANTOM*", "phantom: *the tree has no change*"])
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "phantom" and attempt["claimed_done"] is True
    assert attempt["files_changed"] == []


def test_phantom_when_only_unexpected_files_change(bench):
    bench.canary(run=[])  # expect_changed alone decides
    other = call("write_file", path="notes.txt", content="todo\n")
    with ScriptedServer([other, say("Done.")]) as server:
        bench.run(server)
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "phantom"
    assert "no file matching expect_changed" in attempt["detail"]


def test_touching_an_expect_unchanged_file_is_tampered_even_when_checks_pass(bench):
    bench.canary(extra="", repo={"tests/test_keep.py": "X = 1\n"},
                 toml=None, expect_changed=["hello.py"])
    toml_path = bench.pytester.path / "canaries" / "hello" / "canary.toml"
    toml_path.write_text(toml_path.read_text() + 'expect_unchanged = ["tests/**"]\n')
    script = [calls(tool_call("write_file", {"path": "hello.py", "content": HELLO_SOURCE}),
                    tool_call("write_file", {"path": "tests/test_keep.py", "content": "X = 2\n"})),
              say("Done.")]
    with ScriptedServer(script) as server:
        bench.run(server)
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "tampered"
    assert "must stay unchanged" in attempt["detail"]
    assert attempt["protected_changes"] == ["tests/test_keep.py"]


def test_budget_turns(bench):
    bench.canary()
    with ScriptedServer(lambda request: call("list_dir", path=".")) as server:
        result = bench.run(server, "--agentbench-max-turns", "4")
    assert result.parseoutcomes()["budget"] == 1
    result.stdout.fnmatch_lines(["*BUDGET_TURNS*", "*BUDGET CEILINGS*", "budget_turns: turn budget of 4 exhausted*"])
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "budget_turns" and attempt["turns"] == 4
    assert len(agent_requests(server)) == 4


def test_work_done_before_a_ceiling_still_passes(bench):
    bench.canary()
    script = [WRITE_HELLO] + [call("read_file", path="hello.py")] * 10
    with ScriptedServer(script) as server:
        result = bench.run(server, "--agentbench-max-turns", "3")
    result.assert_outcomes(passed=1)
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "passed" and attempt["stop_reason"] == "budget_turns"


def test_budget_tokens(bench):
    bench.canary()
    heavy = {**call("list_dir"), "usage": {"prompt_tokens": 30000, "completion_tokens": 100}}
    with ScriptedServer(lambda request: heavy) as server:
        result = bench.run(server, "--agentbench-max-tokens", "50000")
    assert result.parseoutcomes()["budget"] == 1
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "budget_tokens"
    assert attempt["turns"] == 2 and attempt["prompt_tokens"] == 60000


def test_output_cap_with_no_tool_call_is_budget_tokens(bench):
    bench.canary()
    starved = {"content": "", "reasoning_content": "Let me think about this carefully " * 20,
               "finish_reason": "length"}
    with ScriptedServer([starved]) as server:
        result = bench.run(server, "--agentbench-max-output-tokens", "64")
    assert result.parseoutcomes()["budget"] == 1
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "budget_tokens"
    assert "output cap" in attempt["detail"] and "max_tokens=64" in attempt["detail"]
    assert attempt["finish_reasons"] == {"length": 1}
    assert agent_requests(server)[0]["max_tokens"] == 64


def test_budget_time(bench):
    bench.canary()
    slow = {**call("list_dir"), "delay": 0.6}
    with ScriptedServer(lambda request: slow) as server:
        result = bench.run(server, "--agentbench-max-seconds", "1")
    assert result.parseoutcomes()["budget"] == 1
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "budget_time"
    assert attempt["wall_seconds"] < 10


def test_malformed_tool_calls(bench):
    bench.canary()
    broken = calls(tool_call("write_file", '{"path": "hello.py", "content": '))  # truncated JSON
    unknown = call("teleport", to="mars")
    bad_schema = call("write_file", path="hello.py")  # content missing
    with ScriptedServer([broken, unknown, bad_schema, WRITE_HELLO]) as server:
        result = bench.run(server)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*MALFORMED*", "malformed: 3 malformed tool calls in a row*"])
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "malformed" and attempt["malformed_tool_calls"] == 3
    # each malformed call went back to the model as a tool error it could react to
    tool_messages = [m for m in agent_requests(server)[2]["messages"] if m["role"] == "tool"]
    assert "not valid JSON" in tool_messages[0]["content"]
    assert "unknown tool 'teleport'" in tool_messages[1]["content"]


def test_malformed_streak_is_reset_by_a_good_call(bench):
    bench.canary()
    bad = call("write_file", path="hello.py")
    with ScriptedServer([bad, bad, WRITE_HELLO, bad, bad, say("Done.")]) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    assert only_attempt(bench)["malformed_tool_calls"] == 4


def test_tool_confusion(bench):
    bench.canary()
    text = 'I will write the file now.\n```json\n{"name": "write_file", "arguments": {"path": "hello.py", "content": "x"}}\n```'
    with ScriptedServer([say(text)]) as server:
        result = bench.run(server)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*TOOL_CONFUSION*"])
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "tool_confusion" and attempt["claimed_done"] is False


def test_infra_error_on_persistent_server_errors(bench):
    bench.canary()
    with ScriptedServer(lambda request: http_error(503, "loading model")) as server:
        result = bench.run(server, "--agentbench-retries", "2")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*INFRA_ERROR*", "infra_error: model server fault: HTTP 503*"])
    assert len(agent_requests(server)) == 3  # first try + 2 retries
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "infra_error" and attempt["checks"] == []


def test_infra_error_when_the_server_is_unreachable(bench):
    bench.canary()
    server = ScriptedServer([])
    url = server.url
    server._httpd.server_close()  # nothing listens on that port any more
    result = bench.pytester.runpytest(
        "canaries", "--models", f"dead@{url}", "--repeats", "1", "--agentbench-retries", "1",
        "--agentbench-retry-backoff", "0.01", "--agentbench-json", "report.json")
    result.assert_outcomes(errors=1)
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "infra_error" and "cannot reach" in attempt["detail"]


def test_transient_server_error_is_retried_not_counted(bench):
    bench.canary()
    state = {"failed": False}

    def flaky(request):
        if not state["failed"]:
            state["failed"] = True
            return http_error(500, "hiccup")
        turn = sum(m["role"] == "assistant" for m in request["messages"])
        return WRITE_HELLO if turn == 0 else say("Done.")

    with ScriptedServer(flaky) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("quirk", ["object_arguments", "missing_id"])
def test_tolerated_quirks_are_counted_not_punished(bench, quirk):
    bench.canary()
    entry = tool_call("write_file", {"path": "hello.py", "content": HELLO_SOURCE},
                      id=None if quirk == "missing_id" else "auto")
    if quirk == "object_arguments":
        entry["function"]["arguments"] = json.loads(entry["function"]["arguments"])
    with ScriptedServer([calls(entry), say("Done.")]) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    quirks = only_attempt(bench)["quirks"]
    assert quirks == {"arguments_as_object": 1} if quirk == "object_arguments" else {"missing_id": 1}


def test_unparsable_arguments_do_not_poison_the_history(bench):
    """llama.cpp answers HTTP 500 when a history holds a tool call whose arguments it cannot
    parse: the model's malformed call must not turn into a server fault on the next turn."""
    bench.canary()

    def strict_server(request):
        for message in request["messages"]:
            for entry in message.get("tool_calls") or []:
                try:
                    json.loads(entry["function"]["arguments"])
                except ValueError:
                    return http_error(500, "Failed to parse tool call arguments as JSON")
        turn = sum(m["role"] == "assistant" for m in request["messages"])
        return [calls(tool_call("write_file", '{"path": "hello.py", "content": "def')),
                WRITE_HELLO, say("Done.")][min(turn, 2)]

    with ScriptedServer(strict_server) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    assert only_attempt(bench)["malformed_tool_calls"] == 1
    tool_message = next(m for m in agent_requests(server)[1]["messages"] if m["role"] == "tool")
    assert "not valid JSON" in tool_message["content"] and '"content": "def' in tool_message["content"]


def test_tampering_with_host_git_fails_the_attempt_and_the_baseline_is_rebuilt(bench):
    # Only the process tier lets a shell command reach the baseline repository's git dir.
    bench.canary()
    tamper = [calls(tool_call("shell", {"command": "git branch evil && git config core.pager cat"}),
                    tool_call("write_file", {"path": "hello.py", "content": HELLO_SOURCE})),
              say("Done.")]
    scripts = {"tamper": tamper, "good": [WRITE_HELLO, say("Done.")]}
    with ScriptedServer(scripts) as server:
        bench.run(server, "--agentbench-sandbox", "process", models="tamper,good")
    by_model = {a["model"]: a for a in bench.report()["attempts"]}
    tampered = by_model["tamper"]
    assert tampered["outcome"] == "tampered"
    assert any("refs/heads/evil" in p for p in tampered["integrity_problems"])
    assert any(".git/config" in p for p in tampered["integrity_problems"])
    assert by_model["good"]["outcome"] == "passed" and by_model["good"]["integrity_problems"] == []


def test_every_outcome_has_its_one_line_meaning():
    """The HTML report's glossary reads them; a new outcome without one fails here."""
    from pytest_agentbench.attempt.outcome import Outcome

    assert all(outcome.meaning and outcome.meaning[0].islower() for outcome in Outcome)
    assert "server failed" in Outcome.INFRA_ERROR.meaning
