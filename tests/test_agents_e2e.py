"""Registry agents end to end: ``[agents.NAME]`` + ``--agentbench-agent`` run a real
agent program (tests/agents/tiny_agent.py, and the built-in loop as an external agent) through the
recording proxy, in the attempt's sandbox, against ScriptedServer; the outcome comes from the same
verification as the built-in loop's."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_agentbench.sandbox.commands import bubblewrap_problem
from pytest_agentbench.testing import ScriptedServer, call, http_error, say
from tests.conftest import HELLO_CHECK, HELLO_SOURCE, agent_requests

AGENT = Path(__file__).parent / "agents" / "tiny_agent.py"
NO_BWRAP = bool(bubblewrap_problem())
tiers = pytest.mark.parametrize("tier", [
    pytest.param("bubblewrap", marks=pytest.mark.skipif(NO_BWRAP, reason="no bubblewrap")), "none"])

REGISTRY = textwrap.dedent(f"""\
    [agents.tiny]
    command = [{json.dumps(sys.executable)}, {json.dumps(str(AGENT))}, "{{prompt}}"]
    env = {{ OPENAI_BASE_URL = "{{base_url}}", OPENAI_API_KEY = "{{api_key}}", AGENT_MODEL = "{{model}}" }}

    """) + (Path(__file__).parents[1] / "examples" / "agents" / "agentbench.toml").read_text()  # as shipped

SOLVE = [call("write_file", path="hello.py", content=HELLO_SOURCE), say("Done: wrote hello.py")]


def run(bench, script, *args: str, registry: str = REGISTRY, agents: str = "tiny", tier: str = "none"):
    (bench.pytester.path / "agentbench.toml").write_text(registry)
    bench.canary()
    with ScriptedServer(script) as server:
        result = bench.run(server, "--agentbench-agent", agents, "--agentbench-sandbox", tier, *args)
        requests = agent_requests(server)
    attempts = bench.report()["attempts"] if (bench.pytester.path / "report.json").exists() else []
    return result, attempts, requests


@tiers
def test_an_agent_that_solves_the_task_passes(bench, tier):
    result, attempts, requests = run(bench, SOLVE, tier=tier)
    result.stdout.fnmatch_lines(["*agents: tiny (*recording proxy)*", "*hello?m-agent=tiny-r0? PASSED*",
                                 "m via tiny *lite *1 *1.00*"])
    [attempt] = attempts
    assert (attempt["agent"], attempt["outcome"], attempt["turns"], attempt["tool_calls"]) == ("tiny", "passed", 2, 1)
    assert attempt["claimed_done"] is True  # exit code 0: the default done rule
    assert len(requests) == 2 and requests[0]["model"] == "m"  # {model}: the id the server knows
    events = [json.loads(line)["event"] for line in Path(attempt["transcript"]).read_text().splitlines()]
    assert "external_agent" in events and events.count("turn") == 2, events


def test_an_agent_that_claims_success_without_a_change_is_phantom(bench):
    result, [attempt], _ = run(bench, [say("All done, the function is written.")])
    assert (attempt["outcome"], attempt["claimed_done"], attempt["files_changed"]) == ("phantom", True, [])
    result.assert_outcomes(failed=1)


@tiers
def test_a_looping_agent_is_stopped_at_the_turn_budget(bench, tier):
    result, [attempt], requests = run(bench, lambda body: call("shell", command="true"),
                                      "--agentbench-max-turns", "3", tier=tier)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert (attempt["outcome"], attempt["turns"], attempt["limit_hit"]) == ("budget_turns", 3, "turn_budget")
    assert "turn budget of 3 exhausted" in attempt["detail"]
    assert len(requests) == 3  # the request past the budget never reached the model


def test_a_jailed_agent_leaves_the_host_untouched(bench, tmp_path):
    if NO_BWRAP:
        pytest.skip("no bubblewrap")
    outside = bench.pytester.path / "outside.txt"
    script = [call("shell", command=f"echo pwned > {outside}; echo pwned > {Path.home()}/agentbench-escape.txt"),
              say("done")]
    _, [attempt], _ = run(bench, script, tier="bubblewrap")
    assert not outside.exists() and not (Path.home() / "agentbench-escape.txt").exists()
    assert attempt["outcome"] == "phantom"  # its worktree is unchanged


def test_in_the_none_tier_an_agent_can_write_outside_its_worktree(bench):
    # What the none tier means (README "Sandbox"): the agent runs unjailed, as `shell` does.
    outside = bench.pytester.path / "outside.txt"
    run(bench, [call("shell", command=f"echo pwned > {outside}"), say("done")], tier="none")
    assert outside.read_text() == "pwned\n"


@tiers
def test_a_model_server_that_dies_mid_attempt_is_infra_error(bench, tier):
    def script(body):
        turn = sum(1 for m in body["messages"] if m.get("role") == "assistant")
        return SOLVE[0] if turn == 0 else {"close": True}
    result, [attempt], _ = run(bench, script, tier=tier)
    assert attempt["outcome"] == "infra_error", attempt["detail"]
    assert "model server unreachable through the proxy" in attempt["detail"]
    result.assert_outcomes(errors=1)


def test_the_builtin_loop_as_an_external_agent_gives_the_same_outcome(bench):
    result, attempts, _ = run(bench, SOLVE, agents="builtin,builtin-external",
                              tier="none" if NO_BWRAP else "bubblewrap")
    by_agent = {a.get("agent", "builtin"): a for a in attempts}
    assert set(by_agent) == {"builtin", "builtin-external"}
    assert "agent" not in by_agent["builtin"]  # the built-in loop's records are as they were
    same = ("outcome", "turns", "tool_calls", "malformed_tool_calls", "files_changed", "claimed_done")
    assert [by_agent["builtin"][k] for k in same] == [by_agent["builtin-external"][k] for k in same]
    assert by_agent["builtin"]["outcome"] == "passed"
    result.stdout.fnmatch_lines(["*hello?m-r0? PASSED*", "*hello?m-agent=builtin-external-r0? PASSED*"])
    # Two summary rows: the model with each agent.
    summary = {(row["model"], row.get("agent")) for row in bench.report()["summary"]}
    assert summary == {("m", None), ("m", "builtin-external")}


def test_agents_in_parallel_under_xdist(bench):
    result, attempts, _ = run(bench, SOLVE, "-n", "2", agents="builtin,tiny", tier="none")
    result.assert_outcomes(passed=2)
    assert sorted(a.get("agent", "builtin") for a in attempts) == ["builtin", "tiny"]


@pytest.mark.parametrize("entry, message", [
    ('command = "tiny"', "[agents.bad]: key 'command': Input should be a valid list"),
    ('command = ["x", "{promt}"]', "[agents.bad]: key 'command': unknown placeholder {promt}"),
    ('command = ["x"]\ncolour = 1', "[agents.bad]: key 'colour': unknown key"),
    ('command = ["x"]\nread_only = ["opt"]', "[agents.bad]: key 'read_only': paths must be absolute: ['opt']"),
    ('command = ["x"]\ndone = { exit_code = 0, marker = "OK" }', "[agents.bad]: key 'done': give exactly one of exit_code or marker"),
])
def test_a_malformed_entry_is_a_usage_error_naming_file_agent_and_key(bench, entry, message):
    result, _, _ = run(bench, SOLVE, registry=f"[agents.bad]\n{entry}\n", agents="bad")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"agentbench.toml: {message}" in result.stderr.str()


def test_an_unknown_agent_is_a_usage_error(bench):
    result, _, _ = run(bench, SOLVE, agents="nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--agentbench-agent: unknown agent 'nope'; known: builtin, builtin-external, tiny*"])


def test_a_done_marker_decides_claimed_done_and_setup_runs_first(bench):
    registry = REGISTRY + textwrap.dedent("""\
        [agents.marked]
        command = ["sh", "-c", "cat setup-was-here && echo ALL-GOOD"]
        setup = ["sh", "-c", "echo from-setup > setup-was-here"]
        done = "ALL-GOOD"
        timeout = 20
        """)
    _, [attempt], _ = run(bench, SOLVE, registry=registry, agents="marked")
    # No model turn: the agent only printed the marker; setup's file is not the change asked for.
    assert (attempt["outcome"], attempt["claimed_done"], attempt["turns"]) == ("phantom", True, 0)
    assert attempt["files_changed"] == ["setup-was-here"]
    assert attempt["budget"]["seconds"] == 20  # the agent's timeout capped the canary's 300 s


def test_resume_keeps_agents_apart(bench):
    # A builtin attempt done in the first run does not make the registry agent's attempt of the
    # same canary, model, variant and repeat look done: the agent is part of the resume key.
    run(bench, SOLVE, agents="builtin")
    _, attempts, requests = run(bench, SOLVE, "--agentbench-resume", "last", agents="builtin,tiny")
    assert len(requests) == 2  # only the tiny agent's attempt ran
    assert sorted(a.get("agent", "builtin") for a in attempts) == ["builtin", "tiny"]
    _, _, requests = run(bench, SOLVE, "--agentbench-resume", "last", agents="builtin,tiny")
    assert requests == []  # both are done now


def test_store_and_compare_keep_agents_apart(tmp_path):
    from pytest_agentbench.records.compare import compare_rows
    from pytest_agentbench.records.history import attempt_key
    from pytest_agentbench.records.store import ResultStore
    from pytest_agentbench.schemas.results import AttemptResult

    def attempt(agent: str, outcome: str) -> AttemptResult:
        return AttemptResult(canary="c", tier="lite", model="m", repeat=0, outcome=outcome, agent=agent)

    with ResultStore(tmp_path / "r.sqlite") as store:
        store.start_run("r1", __import__("datetime").datetime.now(), {}, {}, {})
        store.add_attempt("r1", attempt("builtin", "passed"))
        store.add_attempt("r1", attempt("mini", "failed"))
        assert store.done_keys("r1") == {attempt_key("c", "m", "base", 0), attempt_key("c", "m", "base", 0, "mini")}
        assert store.done_keys("r1") == {("c", "m", "base", 0), ("c", "m", "base via mini", 0)}
        assert sorted(a.agent for a in store.attempts("r1")) == ["builtin", "mini"]
        assert store.plan("r1")["models"] == ["m", "m via mini"]
    rows = compare_rows([attempt("builtin", "passed"), attempt("mini", "failed")],
                        [attempt("builtin", "passed"), attempt("mini", "passed")])
    assert [(r.get("agent"), r["base_c"], r["new_c"]) for r in rows] == [(None, 1, 1), ("mini", 0, 1)]


def test_the_agent_option_has_an_ini_twin(bench):
    bench.pytester.makeini("[pytest]\nagentbench_agent = tiny\n")
    (bench.pytester.path / "agentbench.toml").write_text(REGISTRY)
    bench.canary()
    with ScriptedServer(SOLVE) as server:
        result = bench.run(server)
    result.stdout.fnmatch_lines(["*hello?m-agent=tiny-r0? PASSED*"])


def test_the_request_hook_reaches_an_external_agents_requests(bench):
    bench.pytester.makeconftest('''
def pytest_agentbench_request(body, attempt):
    body["cache_prompt"] = True
    body["x_attempt"] = f"{attempt['canary']}/{attempt['model']}/{attempt['repeat']}"
''')
    result, [attempt], requests = run(bench, SOLVE)
    assert attempt["outcome"] == "passed"
    assert len(requests) == 2
    assert all(r["cache_prompt"] is True and r["x_attempt"] == "hello/m/0" for r in requests)


def test_a_request_hook_that_raises_is_a_harness_fault_not_the_models(bench):
    bench.pytester.makeconftest('''
def pytest_agentbench_request(body, attempt):
    raise RuntimeError("my hook is broken")
''')
    result, [attempt], requests = run(bench, SOLVE)
    assert requests == []  # nothing reached the model
    assert attempt["outcome"] == "infra_error"
    assert "pytest_agentbench_request hook raised RuntimeError: my hook is broken" in attempt["detail"]


# -- retries_with_feedback for registry agents: the program runs again with the task + feedback --

FEEDBACK = "Your changes do not pass the checks yet"
PROMPT = "Create hello.py with a function hello() that returns 'hi'."  # conftest.canary_toml's
WRONG = call("write_file", path="hello.py", content="def hello():\n    return 'bye'\n")
FIRST_TRY = [WRONG, say("Done.")]


def first_user_message(body) -> str:
    return next((m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user"), "")


def by_try(first: list, second: list):
    """A script answering a try from its own list: the agent program starts a new conversation
    each try, so the turn is counted within the try, and the second try's prompt carries the
    feedback."""
    def script(body):
        replies = second if FEEDBACK in first_user_message(body) else first
        turn = sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")
        return replies[turn] if turn < len(replies) else say("Done.")
    return script


def split_tries(requests):
    return ([r for r in requests if FEEDBACK not in first_user_message(r)],
            [r for r in requests if FEEDBACK in first_user_message(r)])


@tiers
def test_a_registry_agent_gets_a_second_try_with_the_feedback(bench, tier):
    result, [attempt], requests = run(bench, by_try(FIRST_TRY, SOLVE),
                                      "--agentbench-retries-with-feedback", "1", tier=tier)
    result.assert_outcomes(passed=1)
    assert attempt["outcome"] == "passed", attempt["detail"]
    assert [t["outcome"] for t in attempt["tries"]] == ["failed", "passed"]
    # Counters are cumulative over the tries, as for the built-in loop.
    assert [t["turns"] for t in attempt["tries"]] == [2, 4]
    first, second = split_tries(requests)  # each request is one turn of its try
    assert attempt["turns"] == len(first) + len(second) == 2 + 2
    assert attempt["tool_calls"] == 2 and attempt["tool_stats"]["write_file"]["calls"] == 2
    assert attempt["tries"][1]["tokens"] == attempt["prompt_tokens"] + attempt["completion_tokens"]
    assert attempt["tries"][1]["tokens"] > attempt["tries"][0]["tokens"]
    assert attempt["claimed_done"] is True  # the last try's exit
    # The second run is a new conversation: the task again, then the failing check.
    [message] = second[0]["messages"]
    assert message["role"] == "user"
    assert message["content"].startswith(PROMPT + "\n\n" + FEEDBACK)
    assert f"$ {HELLO_CHECK}" in message["content"] and "[exit code 1]" in message["content"]
    assert FEEDBACK not in json.dumps(first)
    summary = bench.report()["summary"][0]
    assert summary["pass_rate_by_try"] == [0.0, 1.0]
    result.stdout.fnmatch_lines(["*first try 0.00, final 1.00*"])
    events = [json.loads(line) for line in Path(attempt["transcript"]).read_text().splitlines()]
    assert [e["event"] for e in events].count("external_agent") == 2
    assert [e["try"] for e in events if e["event"] == "try"] == [1]


def test_a_registry_agent_wrong_in_both_tries_fails(bench):
    result, [attempt], requests = run(bench, by_try(FIRST_TRY, FIRST_TRY),
                                      "--agentbench-retries-with-feedback", "1")
    result.assert_outcomes(failed=1)
    assert attempt["outcome"] == "failed"
    assert [t["outcome"] for t in attempt["tries"]] == ["failed", "failed"]
    assert [t["turns"] for t in attempt["tries"]] == [2, 4] and attempt["turns"] == 4
    assert [len(t) for t in split_tries(requests)] == [2, 2]
    assert bench.report()["summary"][0]["pass_rate_by_try"] == [0.0, 0.0]


def test_a_model_server_fault_in_the_second_try_is_infra_error(bench):
    result, [attempt], requests = run(bench, by_try(FIRST_TRY, [http_error(500)]),
                                      "--agentbench-retries-with-feedback", "1")
    result.assert_outcomes(errors=1)
    assert attempt["outcome"] == "infra_error", attempt["detail"]
    assert "the model server failed the agent's last 1 request(s) (server_error)" in attempt["detail"]
    assert [t["outcome"] for t in attempt["tries"]] == ["failed", "infra_error"]
    assert attempt["turns"] == 2  # the first try's turns are kept; the failed request is no turn
    assert [len(t) for t in split_tries(requests)] == [2, 1]


def test_without_retries_a_registry_agent_runs_once(bench):
    result, [attempt], requests = run(bench, by_try(FIRST_TRY, SOLVE))
    result.assert_outcomes(failed=1)
    assert (attempt["outcome"], attempt["tries"], attempt["turns"]) == ("failed", [], 2)
    assert len(requests) == 2 and not any(FEEDBACK in json.dumps(r) for r in requests)
    assert bench.report()["summary"][0]["pass_rate_by_try"] is None


def test_setup_runs_once_and_the_prompt_file_holds_each_tries_prompt(bench):
    # The none tier: the agent may write the log outside its worktree (README "Sandbox").
    log, setups = bench.pytester.path / "prompts.log", bench.pytester.path / "setups.log"
    registry = REGISTRY + textwrap.dedent(f"""\
        [agents.from-file]
        command = ["sh", "-c", 'cat "$1" >> {log}; echo ---- >> {log}; exec "$2" "$3" "$(cat "$1")"',
                   "sh", "{{prompt_file}}", {json.dumps(sys.executable)}, {json.dumps(str(AGENT))}]
        setup = ["sh", "-c", "echo setup >> {setups}"]
        env = {{ OPENAI_BASE_URL = "{{base_url}}" }}
        """)
    _, [attempt], _ = run(bench, by_try(FIRST_TRY, SOLVE), "--agentbench-retries-with-feedback", "1",
                          registry=registry, agents="from-file")
    assert [t["outcome"] for t in attempt["tries"]] == ["failed", "passed"]
    assert setups.read_text() == "setup\n"
    first, second, _ = log.read_text().split("----\n")
    assert first == PROMPT
    assert second.startswith(PROMPT + "\n\n" + FEEDBACK) and f"$ {HELLO_CHECK}" in second


def test_add_try_adds_every_counter_and_keeps_the_last_tries_end():
    from collections import Counter

    from pytest_agentbench.agent.loop import LoopResult
    from pytest_agentbench.external.attempt import add_try

    def one(stop: str, turns: int, message: str) -> LoopResult:
        result = LoopResult(stop_reason=stop, detail=f"{stop} after {turns}", turns=turns, tool_calls=turns,
                            malformed_tool_calls=1, prompt_tokens=10 * turns, completion_tokens=turns,
                            model_seconds=0.5, tool_seconds=0.25, wall_seconds=1.0,
                            finish_reasons=Counter(stop=1, tool_calls=turns - 1),
                            final_message=message, claimed=stop == "final", last_reply=message,
                            conversation_digest=message)
        result.stats.call("write_file", error=False)
        result.stats.turn(1, 3)
        return result

    first, second = one("final", 2, "first"), one("budget_turns", 3, "second")
    total = add_try(first, second)
    assert (total.stop_reason, total.detail, total.final_message, total.claimed, total.last_reply) == (
        "budget_turns", "budget_turns after 3", "second", False, "second")
    assert (total.turns, total.tool_calls, total.malformed_tool_calls, total.total_tokens) == (5, 5, 2, 55)
    assert (total.model_seconds, total.tool_seconds, total.wall_seconds) == (1.0, 0.5, 2.0)
    assert total.finish_reasons == Counter(stop=2, tool_calls=3)
    assert total.stats.calls == Counter(write_file=2) and total.stats.turns_with_tool_calls == 2
    assert total.conversation_digest not in (None, "first", "second")
    assert (first.turns, second.turns, first.stats.calls["write_file"]) == (2, 3, 1)  # inputs unchanged


def test_a_variants_sampling_reaches_an_external_agents_requests(bench):
    (bench.pytester.path / "agentbench.toml").write_text(REGISTRY)
    bench.canary()
    with ScriptedServer(SOLVE) as server:
        result = bench.run(server, "--agentbench-agent", "tiny", "--agentbench-sandbox", "none",
                           "--agentbench-sweep", "temperature=0.7")
        requests = agent_requests(server)
    assert requests and all(r.get("temperature") == 0.7 for r in requests)
    result.stdout.fnmatch_lines(["*m/temperature=0.7 via tiny: sampling: the agent's own, with "
                                 "temperature 0.7 set on each request by the recording proxy*"])


def test_a_variant_an_external_agent_cannot_feel_is_refused(bench):
    (bench.pytester.path / "agentbench.toml").write_text(REGISTRY)
    bench.canary()
    with ScriptedServer(SOLVE) as server:
        result = bench.run(server, "--agentbench-agent", "tiny", "--agentbench-sandbox", "none",
                           "--agentbench-sweep", "max_batch_tool_calls=1,2")
        assert agent_requests(server) == []
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--agentbench-agent tiny: the variant 'max_batch_tool_calls=1' of m "
                                 "sets max_batch_tool_calls, which an external agent's own program decides*"])
