"""Tuning factors end to end: budgets and prompt directives as factors a sweep (or a registry
entry) varies, reaching the attempt's loop and system prompt, and refused before anything runs
when they cannot be used."""

from __future__ import annotations

import pytest

from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE, agent_requests, canary_toml

DIRECTIVE = "Before you finish, check every file the task names."
# Five reads before the write: it needs six turns to change anything, seven to finish.
SLOW = [*[call("list_dir", path=".") for _ in range(5)], call("write_file", path="hello.py",
                                                            content=HELLO_SOURCE), say("Done.")]


def directives(bench, extra: str = "") -> None:
    (bench.pytester.path / "pyproject.toml").write_text(
        f'[tool.agentbench.directives]\ncompleteness = "{DIRECTIVE}"\n{extra}')


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "n2"])
def test_budget_factors_swept_reach_the_loop(bench, xdist):
    bench.canary(toml=canary_toml(extra="[budget]\nturns = 4"))
    with ScriptedServer(SLOW) as server:
        result = bench.run(server, "--agentbench-sweep", "turns=x2,5", *xdist, subprocess=bool(xdist))
    assert result.parseoutcomes() == {"passed": 1, "budget": 1}  # under -n too: every process applies them
    budgets = {a["variant"]: a["budget"]["turns"] for a in bench.report()["attempts"]}
    assert budgets == {"turns=x2": 8, "turns=5": 5}  # x2 of the canary's 4


def test_a_registry_entry_sets_its_own_budget_and_directive(bench):
    bench.canary(toml=canary_toml(extra="[budget]\nturns = 4"))
    directives(bench, '[tool.agentbench.models.m]\nturns = "x2"\ndirective = "completeness"\n')
    with ScriptedServer(SLOW) as server:
        bench.run(server).assert_outcomes(passed=1)
    [attempt] = bench.report()["attempts"]
    assert attempt["budget"]["turns"] == 8
    assert agent_requests(server)[0]["messages"][0]["content"].endswith("\n\n" + DIRECTIVE)


def test_a_directive_sweep_changes_only_the_system_prompt(bench):
    bench.canary()
    directives(bench)

    def passes_with_the_directive(body):
        if body["messages"][-1]["role"] == "tool":
            return say("Done.")
        content = HELLO_SOURCE if DIRECTIVE in body["messages"][0]["content"] else "def hello():\n    return 0\n"
        return call("write_file", path="hello.py", content=content)

    with ScriptedServer(passes_with_the_directive) as server:
        result = bench.run(server, "--agentbench-sweep", "directive=none,completeness")
    result.stdout.fnmatch_lines(["*hello?m-directive=none-r0? FAILED*",
                                 "*hello?m-directive=completeness-r0? PASSED*"])
    prompts = {r["messages"][0]["content"] for r in agent_requests(server)}
    assert len(prompts) == 2 and min(prompts, key=len) + "\n\n" + DIRECTIVE in prompts


@pytest.mark.parametrize("args, message", [
    (["--agentbench-sweep", "turns=many"], "--agentbench-sweep: turns=many: 'many': expected a positive whole"),
    (["--agentbench-sweep", "directive=terse"],
     "--agentbench-sweep directive=terse: directive 'terse' is not declared (known: completeness; or none)"),
    (["--agentbench-sweep", "turns=5,10", "--agentbench-max-turns", "3"],
     "--agentbench-sweep turns=... and --agentbench-max-turns contradict each other: drop one"),
    (["--agentbench-sweep", "seed=1", "--agentbench-ofat", "seed=2"],
     "--agentbench-sweep and --agentbench-ofat cannot be combined*"),
])
def test_bad_factor_values_are_usage_errors_before_anything_runs(bench, args, message):
    bench.canary()
    directives(bench)
    with ScriptedServer(SLOW) as server:
        result = bench.run(server, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])
    assert agent_requests(server) == []


def test_a_bad_registry_factor_names_the_entry_and_key(bench):
    bench.canary()
    directives(bench, '[tool.agentbench.models.m]\ntokens = "plenty"\n')
    with ScriptedServer(SLOW) as server:
        result = bench.run(server)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*agentbench.models.m]: key 'tokens': 'plenty': expected*"])
    directives(bench, '[tool.agentbench.models.m]\ndirective = "brevity"\n')
    with ScriptedServer(SLOW) as server:
        result = bench.run(server)
    result.stderr.fnmatch_lines(["*model 'm': directive 'brevity' is not declared*"])
