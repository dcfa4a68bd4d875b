"""The two-try workflow (Aider's pass_rate_1 / pass_rate_2), end to end: failed checks
go back to the model, which tries again in the same worktree without ever seeing hidden tests."""

from __future__ import annotations

from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE, agent_requests, canary_toml

CHECK = "python check_hello.py"
HIDDEN = {"check_hello.py": "import hello\nvalue = hello.hello()\n"
                            "assert value == 'hi', f'hello() returned {value!r}, expected hi'\n"}
WRONG = call("write_file", path="hello.py", content="def hello():\n    return 'bye'\n")
RIGHT = call("write_file", path="hello.py", content=HELLO_SOURCE)


def two_try_canary(bench, retries: str = "retries_with_feedback = 1") -> None:
    bench.canary(toml=canary_toml(run=[CHECK], extra=retries), hidden=HIDDEN)


def test_second_try_gets_the_failing_output_and_passes(bench):
    two_try_canary(bench)
    script = [WRONG, say("Done."), call("list_dir", path="."), RIGHT, say("Fixed.")]
    with ScriptedServer(script) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    attempt = bench.report()["attempts"][0]
    assert [t["outcome"] for t in attempt["tries"]] == ["failed", "passed"]
    assert attempt["turns"] == 5 and attempt["tries"][0]["turns"] == 2

    requests = agent_requests(server)
    feedback = requests[2]["messages"][-1]
    assert feedback["role"] == "user"
    assert f"$ {CHECK}" in feedback["content"] and "hello() returned 'bye'" in feedback["content"]
    # The hidden test was taken away again before the second try.
    listing = requests[3]["messages"][-1]
    assert listing["role"] == "tool" and "hello.py" in listing["content"]
    assert "check_hello.py" not in listing["content"]

    summary = bench.report()["summary"][0]
    assert summary["pass_rate_by_try"] == [0.0, 1.0]
    result.stdout.fnmatch_lines(["*first try 0.00, final 1.00*"])


def test_command_line_default_and_a_model_wrong_both_times(bench):
    two_try_canary(bench, retries="")
    with ScriptedServer([WRONG, say("Done."), WRONG, say("Done again.")]) as server:
        result = bench.run(server, "--agentbench-retries-with-feedback", "1")
    result.assert_outcomes(failed=1)
    attempt = bench.report()["attempts"][0]
    assert [t["outcome"] for t in attempt["tries"]] == ["failed", "failed"]
    assert len(agent_requests(server)) == 4
    assert bench.report()["aggregates"][0]["pass_rate_by_try"] == [0.0, 0.0]


def test_a_canary_setting_zero_overrides_the_command_line(bench):
    two_try_canary(bench, retries="retries_with_feedback = 0")
    with ScriptedServer([WRONG, say("Done."), RIGHT, say("Fixed.")]) as server:
        result = bench.run(server, "--agentbench-retries-with-feedback", "2")
    result.assert_outcomes(failed=1)
    attempt = bench.report()["attempts"][0]
    assert attempt["tries"] == [] and len(agent_requests(server)) == 2
    assert bench.report()["summary"][0]["pass_rate_by_try"] is None


def test_each_try_gets_a_fresh_turn_budget(bench):
    two_try_canary(bench, retries='retries_with_feedback = 1\n[budget]\nturns = 2')
    with ScriptedServer([WRONG, say("Done."), call("read_file", path="hello.py"), RIGHT,
                         say("unreached")]) as server:
        bench.run(server)
    attempt = bench.report()["attempts"][0]
    # try 2 used its own 2 turns (read, write) and hit its ceiling; its write still counts
    assert [t["outcome"] for t in attempt["tries"]] == ["failed", "passed"]
    assert attempt["tries"][1]["stop_reason"] == "budget_turns" and attempt["turns"] == 4


def test_retries_above_three_are_refused(bench):
    bench.canary(toml=canary_toml(extra="retries_with_feedback = 5"))
    with ScriptedServer([say("no")]) as server:
        result = bench.run(server)
    result.stdout.fnmatch_lines(["*field 'retries_with_feedback'*less than or equal to 3*"])


def test_a_pass_on_the_first_try_still_reports_the_rate_by_try(bench):
    """With retries on, a model that never needs its second try is still "first try 1.00"."""
    two_try_canary(bench, retries="")
    with ScriptedServer([RIGHT, say("Done.")]) as server:
        result = bench.run(server, "--agentbench-retries-with-feedback", "1")
    result.assert_outcomes(passed=1)
    assert bench.report()["summary"][0]["pass_rate_by_try"] == [1.0, 1.0]
    result.stdout.fnmatch_lines(["*first try 1.00, final 1.00*"])
