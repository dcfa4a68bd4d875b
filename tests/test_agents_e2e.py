"""Registry agents end to end (issue 18): ``[agents.NAME]`` + ``--agentbench-agent`` run a real
agent program (tests/agents/tiny_agent.py, and the built-in loop as an external agent) through the
recording proxy, in the attempt's sandbox, against ScriptedServer; the outcome comes from the same
verification as the built-in loop's."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_agentbench.sandbox import bubblewrap_problem
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE, agent_requests

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
    from pytest_agentbench.compare import compare_rows
    from pytest_agentbench.history import attempt_key
    from pytest_agentbench.results import AttemptResult
    from pytest_agentbench.store import ResultStore

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
