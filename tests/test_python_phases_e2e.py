"""``agent.phase(...)`` (pipelines for Python canaries) end to end: a test body runs pipeline
phases one by one over real HTTP (ScriptedServer), each a fresh scoped conversation on the
attempt's worktree, and they are recorded in ``attempts[].phases`` and the per model × phase
table exactly like a ``[[phases]]`` canary's."""

from __future__ import annotations

import json
import textwrap

import pytest

from pytest_agentbench.testing import ScriptedServer, call, http_error, say
from tests.conftest import HELLO_SOURCE, agent_requests

# The same three phases, scripted the same way, as the canary.toml pipeline tests.
from tests.test_pipeline_e2e import (
    EXPLORE_OK,
    GOOD,
    HYPOTHESIS,
    IMPLEMENTED,
    by_phase,
    fenced,
    only_attempt,
)

HYPOTHESIS_SCHEMA = {"type": "object", "required": ["axis", "hypothesis"],
                     "properties": {"axis": {"type": "string"}, "hypothesis": {"type": "string"}}}

MODULE = '''
import pytest

EXPLORE = {"type": "object", "required": ["files_examined", "summary"],
           "properties": {"files_examined": {"type": "array", "items": {"type": "string"}},
                          "summary": {"type": "string"}}}
HELLO = """python -c 'import hello; assert hello.hello() == "hi"'"""

@pytest.mark.canary(tier="lite", repo="repo", tags=["pipeline"])
def test_pipe(agent):
    """A three-phase pipeline."""
    explore = agent.phase("explore", "EXPLORE the repository. Answer with JSON.",
                          output_schema=EXPLORE, claims={"files_examined": "files"},
                          budget={"turns": 5})
    assert explore.json_ok, explore.schema_errors
    assert not explore.hallucinated and not explore.invalid_paths, explore.record
    hypothesis = agent.phase("hypothesize", "HYPOTHESIZE. The map: {{explore}}",
                             output_schema="schemas/hypothesis.json")
    assert hypothesis.ok, hypothesis.detail
    implement = agent.phase("implement", "IMPLEMENT this hypothesis: {{hypothesize}}", writes=True)
    assert not implement.phantom, "the implement phase changed nothing"
    check = agent.check(HELLO)
    assert check.ok, check.output
'''


def write_module(bench, body: str = MODULE, repo: dict | None = None) -> None:
    root = bench.pytester.path / "canaries"
    for relative, content in (repo or {"README.md": "# demo\n"}).items():
        (root / "repo" / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / "repo" / relative).write_text(content)
    (root / "schemas").mkdir(parents=True, exist_ok=True)
    (root / "schemas" / "hypothesis.json").write_text(json.dumps(HYPOTHESIS_SCHEMA))
    (root / "test_pipe_canary.py").write_text(textwrap.dedent(body))


def test_phases_in_a_test_body_pass_and_are_recorded(bench):
    write_module(bench)
    with ScriptedServer(by_phase(GOOD)) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "passed" and attempt["files_changed"] == ["hello.py"]
    explore, hypothesize, implement = attempt["phases"]
    assert [p["name"] for p in attempt["phases"]] == ["explore", "hypothesize", "implement"]
    assert explore["json_ok"] is True and explore["output"] == EXPLORE_OK and explore["claims_checked"]
    assert hypothesize["output"] == HYPOTHESIS  # the schema file beside the test was used
    assert implement["files_changed"] == ["hello.py"] and implement["phantom"] is False
    assert attempt["turns"] == 5 and attempt["tool_calls"] == 2  # the phases' counters added up
    firsts = [r for r in agent_requests(server) if not any(m["role"] == "assistant" for m in r["messages"])]
    assert len(firsts) == 3  # each phase a fresh conversation...
    tools = [{t["function"]["name"] for t in r["tools"]} for r in firsts]
    assert "write_file" not in tools[0] and "write_file" in tools[2]  # ... with its own tools
    assert firsts[2]["messages"][1]["content"] == "IMPLEMENT this hypothesis: " + json.dumps(HYPOTHESIS)
    row = next(r for r in bench.report()["pipelines"]["phases"] if r["phase"] == "explore")
    assert row["ran"] == 1 and row["json_first_try"] == 1 and row["json_success_rate"] == 1.0


def test_prose_where_json_is_asked_is_invalid_output(bench):
    write_module(bench)
    prose = say("The repository holds a README.")
    with ScriptedServer(by_phase({**GOOD, "EXPLORE": [prose, prose]})) as server:
        result = bench.run(server)
    result.assert_outcomes(failed=1)
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "invalid_output", attempt["detail"]
    assert [p["name"] for p in attempt["phases"]] == ["explore"]  # the test body stopped there
    explore = attempt["phases"][0]
    assert explore["outcome"] == "invalid_output" and explore["json_retries"] == 1
    assert len(explore["schema_errors"]) == 2


def test_an_implement_phase_that_changes_nothing_is_phantom(bench):
    write_module(bench)
    with ScriptedServer(by_phase({**GOOD, "IMPLEMENT": [say(fenced(IMPLEMENTED))]})) as server:
        result = bench.run(server)
    result.assert_outcomes(failed=1)
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "phantom" and attempt["phases"][2]["phantom"] is True


def test_claimed_files_never_read_are_hallucinated(bench):
    write_module(bench)
    claims = {"files_examined": ["README.md", "src/**/*.py", "read_file"], "summary": "Read it all."}
    with ScriptedServer(by_phase({**GOOD, "EXPLORE": [say(fenced(claims))]})) as server:
        result = bench.run(server)
    result.assert_outcomes(failed=1)
    explore = only_attempt(bench)["phases"][0]
    assert set(explore["hallucinated"]) >= {"README.md"}  # listed, never read in this phase
    assert {"src/**/*.py", "read_file"} <= set(explore["invalid_paths"])


# A cheater in both sandbox tiers: a read-only phase that writes through the shell is recorded,
# and a writing phase that breaks the gate checks has its change reverted by the harness.
@pytest.mark.parametrize("tier", ["auto", "none"])
def test_shell_write_in_a_read_only_phase_and_a_reverted_regression(bench, tier):
    body = MODULE.replace(
        'implement = agent.phase("implement", "IMPLEMENT this hypothesis: {{hypothesize}}", writes=True)',
        'implement = agent.phase("implement", "IMPLEMENT this hypothesis: {{hypothesize}}", writes=True,'
        ' regression_gate=True, gate_checks=[CALC])\n'
        '    assert not implement.regression.reverted, implement.regression.broken').replace(
        'HELLO = ', 'CALC = "python -c \'import calc, sys; sys.exit(0 if calc.add(1, 2) == 3 else 1)\'"\nHELLO = ')
    write_module(bench, body, repo={"README.md": "# demo\n", "calc.py": "def add(a, b):\n    return a + b\n"})
    scripts = {**GOOD,
               "HYPOTHESIZE": [call("shell", command="echo scratch > notes.txt"), say(json.dumps(HYPOTHESIS))],
               "IMPLEMENT": [call("write_file", path="hello.py", content=HELLO_SOURCE),
                             call("write_file", path="calc.py", content="def add(a, b):\n    return a - b\n"),
                             say(fenced(IMPLEMENTED))]}
    with ScriptedServer(by_phase(scripts)) as server:
        result = bench.run(server, "--agentbench-sandbox", tier)
    result.assert_outcomes(failed=1)
    attempt = only_attempt(bench)
    _, hypothesize, implement = attempt["phases"]
    assert hypothesize["violation"] == ["notes.txt"] and hypothesize["violation_reverted"] is True
    assert implement["regression"]["reverted"] is True
    assert implement["regression"]["reverted_files"] == ["calc.py", "hello.py"]
    # reverted for real, both: the read-only phase's scratch file and the regression are undone
    assert attempt["files_changed"] == []
    assert attempt["outcome"] == "phantom"  # nothing of the phases' work is left in the tree


def test_a_server_fault_in_a_phase_is_infra_error_not_a_model_failure(bench):
    write_module(bench)
    down = [http_error(500)] * 20
    with ScriptedServer(by_phase({**GOOD, "HYPOTHESIZE": down})) as server:
        result = bench.run(server, "--agentbench-retries", "0")
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "infra_error", attempt["detail"]
    assert [p["name"] for p in attempt["phases"]] == ["explore", "hypothesize"]
    assert result.ret != 0


@pytest.mark.parametrize(("call_text", "message"), [
    ('agent.phase("explore", "EXPLORE {{nothing}}")', "field 'prompt': {{nothing}} names no earlier phase"),
    ('agent.phase("explore", "EXPLORE", tools=["write_file"])', "field 'tools': "),
    ('agent.phase("explore", "EXPLORE", writes=True, regression_gate=True)',
     "field 'regression_gate': needs gate_checks"),
    ('agent.phase("explore", "EXPLORE", output_schema="schemas/missing.json")',
     "field 'output_schema': schema file 'schemas/missing.json' not found"),
    ('agent.phase("explore", "EXPLORE", colour="blue")', "field 'colour': "),
    ('agent.phase("explore", "EXPLORE", writes=True, skip_to="review")',
     "field 'skip_to': a test body decides itself which phase comes next"),
    ('agent.phase("explore", "EXPLORE", output_schema={"type": "object"}, reprompt_on=["hallucinated"])',
     "field 'reprompt_on': 'hallucinated' needs claims"),
])
def test_a_wrong_phase_is_a_usage_error_naming_the_field(bench, call_text, message):
    body = MODULE.replace('explore = agent.phase("explore", "EXPLORE the repository. Answer with JSON.",',
                          f'{call_text}\n    explore = agent.phase("explore", "EXPLORE the repository.",')
    write_module(bench, body)
    with ScriptedServer(by_phase(GOOD)) as server:
        result = bench.run(server)
    result.stdout.fnmatch_lines([f"*test_pipe_canary.py::test_pipe?m-r0?: agent.phase('explore'): {message}*"])
    assert not any("EXPLORE" in json.dumps(r) for r in agent_requests(server))  # no phase ran
    report = bench.report()  # nothing lost: the attempt that never ran is named, the run incomplete
    assert report["attempts"] == [] and report["incomplete"] is True
    assert report["missing"] == ["canaries/test_pipe_canary.py::test_pipe[m-r0]"] and result.ret != 0


def test_phases_under_xdist(bench):
    write_module(bench)
    with ScriptedServer(by_phase(GOOD)) as server:
        result = bench.run(server, "-n", "2", repeats=2, subprocess=True)
    result.assert_outcomes(passed=2)
    attempts = bench.report()["attempts"]
    assert len(attempts) == 2 and all(len(a["phases"]) == 3 for a in attempts)


def test_reprompt_on_sends_a_polluted_output_back(bench):
    body = MODULE.replace('claims={"files_examined": "files"},',
                          'claims={"files_examined": "files"}, reprompt_on=["invalid_paths"],')
    write_module(bench, body)
    polluted = {**EXPLORE_OK, "files_examined": ["README.md", "**/*.md"]}
    scripts = {**GOOD, "EXPLORE": [call("read_file", path="README.md"), say(fenced(polluted)),
                                   say(fenced(EXPLORE_OK))]}
    with ScriptedServer(by_phase(scripts)) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    explore = only_attempt(bench)["phases"][0]
    assert explore["check_retries"] == 1 and explore["invalid_paths"] == [] and explore["output"] == EXPLORE_OK
