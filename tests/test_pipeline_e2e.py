"""Pipeline canaries end to end: pytest collects a ``[[phases]]`` canary, a
ScriptedServer plays each phase's sub-agent over real HTTP, the phases run in one worktree, and
the verdict, ``attempts[].phases`` and the per model × phase table show up in pytest's status,
the JSON report and the terminal."""

from __future__ import annotations

import json
import textwrap

import pytest

from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_CHECK, HELLO_SOURCE, agent_requests

EXPLORE_SCHEMA = {
    "type": "object", "required": ["files_examined", "summary"],
    "properties": {"files_examined": {"type": "array", "items": {"type": "string"}},
                   "summary": {"type": "string"}},
}


def pipeline_toml(extra: str = "", implement: str = "", hypothesize_prompt: str = "") -> str:
    hypothesize_prompt = hypothesize_prompt or "HYPOTHESIZE. The map: {{explore}}"
    return textwrap.dedent(f"""\
        tier = "lite"
        tags = ["pipeline"]
        {extra}
        [[phases]]
        name = "explore"
        prompt = "EXPLORE the repository. Answer with JSON matching the schema."
        output_schema = "schemas/explore.json"
        max_json_retries = 1
        [phases.budget]
        turns = 5
        [phases.claims]
        files_examined = "files"

        [[phases]]
        name = "hypothesize"
        prompt = {json.dumps(hypothesize_prompt)}
        output_schema = {{ type = "object", required = ["axis", "hypothesis"], properties = {{ axis = {{ type = "string" }}, hypothesis = {{ type = "string" }} }} }}

        [[phases]]
        name = "implement"
        prompt = "IMPLEMENT this hypothesis: {{{{hypothesize}}}}"
        writes = true
        {implement}
        output_schema = {{ type = "object", required = ["changes"], properties = {{ changes = {{ type = "array" }} }} }}

        [verify]
        run = [{json.dumps(HELLO_CHECK)}]
        expect_changed = ["hello.py"]
        """)


def make_pipeline(bench, toml: str | None = None, repo: dict | None = None, **kwargs) -> None:
    directory = bench.canary("pipe", toml=toml or pipeline_toml(**kwargs), repo=repo)
    (directory / "schemas").mkdir(exist_ok=True)
    (directory / "schemas" / "explore.json").write_text(json.dumps(EXPLORE_SCHEMA))


def fenced(value: dict) -> str:
    return "Here is my answer.\n```json\n" + json.dumps(value) + "\n```"


EXPLORE_OK = {"files_examined": ["README.md"], "summary": "A demo repository with a README only."}
HYPOTHESIS = {"axis": "ux_cli", "hypothesis": "Add hello.py with a hello() function returning 'hi'."}
IMPLEMENTED = {"changes": ["hello.py"]}


def by_phase(scripts: dict[str, list[dict]]):
    """A script per phase, chosen by a word of the phase's prompt (the conversation's first user
    message) and indexed by the phase's own turn: each phase is a fresh conversation."""
    def reply(body: dict) -> dict:
        messages = body.get("messages", [])
        task = next((m["content"] for m in messages if m.get("role") == "user"), "")
        turn = sum(1 for m in messages if m.get("role") == "assistant")
        for marker, script in scripts.items():
            if marker in task:
                return script[turn] if turn < len(script) else say("(end of phase script)")
        return say("(no phase script)")
    return reply


GOOD = {
    "EXPLORE": [call("read_file", path="README.md"), say(fenced(EXPLORE_OK))],
    "HYPOTHESIZE": [say(json.dumps(HYPOTHESIS))],
    "IMPLEMENT": [call("write_file", path="hello.py", content=HELLO_SOURCE), say(fenced(IMPLEMENTED))],
}


def only_attempt(bench) -> dict:
    attempts = bench.report()["attempts"]
    assert len(attempts) == 1
    return attempts[0]


def test_every_phase_right_passes(bench):
    make_pipeline(bench)
    with ScriptedServer(by_phase(GOOD)) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "passed" and attempt["stop_reason"] == "final"
    names = [p["name"] for p in attempt["phases"]]
    assert names == ["explore", "hypothesize", "implement"]
    explore, _, implement = attempt["phases"]
    assert explore["outcome"] == "ok" and explore["json_ok"] is True and explore["json_retries"] == 0
    assert explore["output"] == EXPLORE_OK and explore["hallucinated"] == [] and explore["invalid_paths"] == []
    assert explore["files_changed"] == [] and explore["phantom"] is None
    assert explore["language"] == "en" and explore["language_drift"] is False
    assert implement["files_changed"] == ["hello.py"] and implement["phantom"] is False
    assert attempt["turns"] == 5 and attempt["tool_calls"] == 2
    requests = agent_requests(server)
    # each phase is a fresh conversation with its own scoped tools
    firsts = [r for r in requests if sum(m["role"] == "assistant" for m in r["messages"]) == 0]
    assert len(firsts) == 3
    tools = [{t["function"]["name"] for t in r["tools"]} for r in firsts]
    assert "write_file" not in tools[0] and "write_file" not in tools[1] and "write_file" in tools[2]
    # {{hypothesize}} pinned the earlier output verbatim
    implement_prompt = firsts[2]["messages"][1]["content"]
    assert implement_prompt == "IMPLEMENT this hypothesis: " + json.dumps(HYPOTHESIS)


def test_prose_before_and_after_the_reprompt_is_invalid_output(bench):
    make_pipeline(bench)
    prose = say("I looked around: the repository holds a README. The next step is clear.")
    scripts = {**GOOD, "EXPLORE": [prose, say("As I said, it is a small demo repository.")]}
    with ScriptedServer(by_phase(scripts)) as server:
        result = bench.run(server)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*INVALID_OUTPUT*",
                                 "invalid_output: phase explore: no valid JSON output after 1 re-prompt*"])
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "invalid_output" and attempt["stop_reason"] == "invalid_output"
    explore, hypothesize, implement = attempt["phases"]
    assert explore["outcome"] == "invalid_output" and explore["json_ok"] is False
    assert explore["json_retries"] == 1 and len(explore["schema_errors"]) == 2
    assert "no JSON object found" in explore["schema_errors"][0]
    assert hypothesize["outcome"] == implement["outcome"] == "skipped"  # the pipeline stopped
    # the re-prompt said what was wrong and showed the schema
    second = [r for r in agent_requests(server) if "EXPLORE" in r["messages"][1]["content"]][-1]
    reprompt = second["messages"][-1]["content"]
    assert second["messages"][-1]["role"] == "user"
    assert "did not contain valid JSON" in reprompt and '"files_examined"' in reprompt


def test_json_after_one_reprompt_is_recorded_as_such(bench):
    make_pipeline(bench)
    wrong_shape = say(fenced({"files": ["README.md"]}))  # JSON, but not the schema's
    scripts = {**GOOD, "EXPLORE": [call("read_file", path="README.md"), wrong_shape, say(fenced(EXPLORE_OK))]}
    with ScriptedServer(by_phase(scripts)) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    explore = only_attempt(bench)["phases"][0]
    assert explore["json_ok"] is True and explore["json_retries"] == 1
    assert explore["schema_errors"] == ["schema violation at (top level): 'files_examined' is a required property"]
    assert explore["output"] == EXPLORE_OK


def test_globs_and_tool_names_logged_as_examined_files(bench):
    make_pipeline(bench, repo={"README.md": "# demo\n", "notes.txt": "todo\n"})
    polluted = {"files_examined": ["README.md", "**/*.js", "list_files", "/runs/*.json", "src/app.py",
                                   "notes.txt"],
                "summary": "Examined the code base."}
    scripts = {**GOOD, "EXPLORE": [call("read_file", path="README.md"), say(json.dumps(polluted))]}
    with ScriptedServer(by_phase(scripts)) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)  # the checks decide the verdict; the phase checks are recorded
    explore = only_attempt(bench)["phases"][0]
    assert explore["invalid_paths"] == ["**/*.js", "list_files", "/runs/*.json", "src/app.py"]
    assert explore["hallucinated"] == ["notes.txt"]  # a real file this phase never read or listed
    row = next(r for r in bench.report()["pipelines"]["phases"] if r["phase"] == "explore")
    assert row["invalid_paths"] == 1 and row["invalid_paths_rate"] == 1.0 and row["hallucination_rate"] == 1.0


def test_implement_phase_that_changes_nothing_is_phantom(bench):
    make_pipeline(bench)
    scripts = {**GOOD, "IMPLEMENT": [call("read_file", path="README.md"), say(fenced(IMPLEMENTED))]}
    with ScriptedServer(by_phase(scripts)) as server:
        result = bench.run(server)
    result.assert_outcomes(failed=1)
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "phantom" and attempt["files_changed"] == []
    implement = attempt["phases"][2]
    assert implement["outcome"] == "ok" and implement["phantom"] is True
    assert implement["output"] == IMPLEMENTED  # it claimed a change it never made
    row = next(r for r in bench.report()["pipelines"]["phases"] if r["phase"] == "implement")
    assert row["phantom"] == 1 and row["phantom_rate"] == 1.0


# Both sandbox tiers: the shell write a read-only phase is caught at, and the revert the harness
# writes into the agent's tree, must hold with and without the jail.
@pytest.mark.parametrize("tier", ["auto", "none"])
def test_language_drift_into_thai_and_a_read_only_phase_that_writes(bench, tier):
    make_pipeline(bench)
    thai = {"axis": "ux_cli",
            "hypothesis": "ควรเพิ่มไฟล์ hello.py ที่มีฟังก์ชัน hello เพื่อให้ระบบทำงานได้ดีขึ้น"}
    scripts = {**GOOD, "HYPOTHESIZE": [call("shell", command="echo scratch > notes.txt"),
                                       say(json.dumps(thai, ensure_ascii=False))]}
    with ScriptedServer(by_phase(scripts)) as server:
        result = bench.run(server, "--agentbench-sandbox", tier)
    attempt = only_attempt(bench)
    explore, hypothesize, _ = attempt["phases"]
    assert explore["language_drift"] is False
    assert hypothesize["language_drift"] is True and hypothesize["language"] == "th"
    assert "Thai" in hypothesize["language_evidence"]
    assert hypothesize["violation"] == ["notes.txt"]  # writes = false, changed through the shell
    assert hypothesize["violation_reverted"] is True
    assert attempt["outcome"] == "passed" and attempt["files_changed"] == ["hello.py"]
    row = next(r for r in bench.report()["pipelines"]["phases"] if r["phase"] == "hypothesize")
    assert row["drift"] == 1 and row["drift_rate"] == 1.0 and row["violations"] == 1
    result.stdout.fnmatch_lines(["*agentbench pipelines*", "pipe · m",
                                 "*phase*json 1st*json ok*phantom*drift*",
                                 "  hypothesize  1/1  1/1*1/1*"])


def test_a_budget_factor_reaches_each_phases_own_budget(bench):
    # explore needs 2 turns and allows itself 1: the canary as written runs out, a sweep cell with
    # turns=x2 (what OFAT and the ceilings analysis run) doubles the phase's own budget and passes.
    toml = pipeline_toml().replace("[phases.budget]\nturns = 5", "[phases.budget]\nturns = 1")
    assert "turns = 1" in toml
    make_pipeline(bench, toml=toml)
    with ScriptedServer(by_phase(GOOD)) as server:
        bench.run(server, "--agentbench-sweep", "turns=x1,x2,6")
    attempts = {a["variant"]: a for a in bench.report()["attempts"]}
    assert attempts["turns=x1"]["outcome"] == "budget_turns"
    assert attempts["turns=x1"]["phases"][0]["outcome"] == "budget_turns"
    assert attempts["turns=x2"]["outcome"] == "passed"
    assert attempts["turns=6"]["outcome"] == "passed"  # a number replaces the phase's own budget


def with_review_and_reflect(toml: str) -> str:
    """The three phases, then REVIEW (skipped after a phantom or a revert) and REFLECT."""
    return toml.replace("[verify]", '[[phases]]\nname = "review"\nprompt = "REVIEW {{implement}}"\n\n'
                        '[[phases]]\nname = "reflect"\nprompt = "REFLECT on {{implement}}; review: {{review}}"\n\n'
                        "[verify]")


REFLECTED = {"REVIEW": [say("The change looks right.")], "REFLECT": [say("Next time, write the file.")]}


@pytest.mark.parametrize("tier", ["auto", "none"])
def test_a_phantom_implement_skips_to_reflect(bench, tier):
    make_pipeline(bench, toml=with_review_and_reflect(pipeline_toml(implement='skip_to = "reflect"')))
    scripts = {**GOOD, **REFLECTED, "IMPLEMENT": [say(fenced(IMPLEMENTED))]}  # claims, changes nothing
    with ScriptedServer(by_phase(scripts)) as server:
        bench.run(server, "--agentbench-sandbox", tier)
    attempt = only_attempt(bench)
    outcomes = [(p["name"], p["outcome"]) for p in attempt["phases"]]
    assert outcomes == [("explore", "ok"), ("hypothesize", "ok"), ("implement", "ok"),
                        ("review", "skipped"), ("reflect", "ok")]
    implement, review, _ = attempt["phases"][2:]
    assert implement["phantom"] is True and implement["skipped_to"] == "reflect"
    assert review["detail"] == "skipped: phase implement changed nothing (phantom)"
    row = next(r for r in bench.report()["pipelines"]["phases"] if r["phase"] == "implement")
    assert row["skipped_to"] == 1 and row["phantom"] == 1
    prompts = [r["messages"][1]["content"] for r in agent_requests(server)]
    assert not any(p.startswith("REVIEW") for p in prompts)  # no budget spent scoring nothing
    reflect = next(p for p in prompts if p.startswith("REFLECT"))
    assert reflect.endswith("review: (skipped: phase implement changed nothing (phantom))")
    assert attempt["outcome"] == "phantom"


@pytest.mark.parametrize("tier", ["auto", "none"])
def test_a_reverted_regression_skips_to_reflect(bench, tier):
    gate = f'regression_gate = true\ngate_checks = [{json.dumps(PYTEST_GATE)}]\nskip_to = "reflect"'
    make_pipeline(bench, toml=with_review_and_reflect(pipeline_toml(implement=gate)),
                  repo={"README.md": "# demo\n", "calc.py": CALC, "tests/test_calc.py": CALC_TESTS})
    broken = call("write_file", path="calc.py", content="def add(a, b):\n    return a - b\n")
    scripts = {**GOOD, **REFLECTED, "IMPLEMENT": [call("write_file", path="hello.py", content=HELLO_SOURCE),
                                                  broken, say(fenced(IMPLEMENTED))]}
    with ScriptedServer(by_phase(scripts)) as server:
        bench.run(server, "--agentbench-sandbox", tier)
    attempt = only_attempt(bench)
    implement, review, reflect = attempt["phases"][2:]
    assert implement["regression"]["reverted"] is True and implement["skipped_to"] == "reflect"
    assert review["outcome"] == "skipped" and "its change was reverted" in review["detail"]
    assert reflect["outcome"] == "ok" and attempt["files_changed"] == []


def test_without_skip_to_every_phase_runs_after_a_phantom(bench):
    make_pipeline(bench, toml=with_review_and_reflect(pipeline_toml()))
    scripts = {**GOOD, **REFLECTED, "IMPLEMENT": [say(fenced(IMPLEMENTED))]}
    with ScriptedServer(by_phase(scripts)) as server:
        bench.run(server)
    assert [p["outcome"] for p in only_attempt(bench)["phases"]] == ["ok"] * 5


def test_invalid_paths_are_sent_back_and_the_corrected_output_is_kept(bench):
    toml = pipeline_toml().replace("max_json_retries = 1",
                                   'max_json_retries = 1\nreprompt_on = ["invalid_paths", "hallucinated"]')
    assert "reprompt_on" in toml
    make_pipeline(bench, toml=toml)
    polluted = {**EXPLORE_OK, "files_examined": ["README.md", "**/*.py", "list_files"]}
    scripts = {**GOOD, "EXPLORE": [call("read_file", path="README.md"), say(fenced(polluted)),
                                   say(fenced(EXPLORE_OK))]}
    with ScriptedServer(by_phase(scripts)) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    explore = only_attempt(bench)["phases"][0]
    assert explore["json_ok"] is True and explore["json_retries"] == 0
    assert explore["check_retries"] == 1 and explore["output"] == EXPLORE_OK
    assert explore["invalid_paths"] == [] and explore["hallucinated"] == []
    [problem] = explore["check_problems"]
    assert problem.startswith("these entries are not files of the repository: ['**/*.py', 'list_files']")
    row = next(r for r in bench.report()["pipelines"]["phases"] if r["phase"] == "explore")
    assert row["check_reprompted"] == 1 and row["invalid_paths"] == 0
    told = [r for r in agent_requests(server) if "EXPLORE" in r["messages"][1]["content"]][-1]
    assert "Your JSON output has problems" in told["messages"][-1]["content"]


def test_an_output_that_stays_wrong_is_recorded_after_its_last_reprompt(bench):
    toml = pipeline_toml().replace("max_json_retries = 1", 'max_json_retries = 1\nreprompt_on = ["invalid_paths"]')
    make_pipeline(bench, toml=toml)
    polluted = {**EXPLORE_OK, "files_examined": ["README.md", "src/**"]}
    scripts = {**GOOD, "EXPLORE": [call("read_file", path="README.md"), say(fenced(polluted)), say(fenced(polluted))]}
    with ScriptedServer(by_phase(scripts)) as server:
        bench.run(server)
    explore = only_attempt(bench)["phases"][0]
    assert explore["check_retries"] == 1 and explore["invalid_paths"] == ["src/**"]
    assert explore["outcome"] == "ok"  # a checked problem is recorded, not a failed phase


def test_drift_is_sent_back_in_the_expected_language(bench):
    toml = pipeline_toml().replace('prompt = "HYPOTHESIZE', 'reprompt_on = ["language_drift"]\nprompt = "HYPOTHESIZE')
    assert "language_drift" in toml
    make_pipeline(bench, toml=toml)
    thai = {"axis": "ux_cli", "hypothesis": "ควรเพิ่มไฟล์ hello.py ที่มีฟังก์ชัน hello เพื่อให้ระบบทำงานได้ดีขึ้น"}
    scripts = {**GOOD, "HYPOTHESIZE": [say(json.dumps(thai, ensure_ascii=False)), say(json.dumps(HYPOTHESIS))]}
    with ScriptedServer(by_phase(scripts)) as server:
        bench.run(server)
    hypothesize = only_attempt(bench)["phases"][1]
    assert hypothesize["check_retries"] == 1 and hypothesize["output"] == HYPOTHESIS
    assert hypothesize["language_drift"] is False
    assert "not in the expected language ('en', found 'th')" in hypothesize["check_problems"][0]


CALC = "def add(a, b):\n    return a + b\n"
CALC_CHECK = "python -c \"import calc, sys; sys.exit(0 if calc.add(1, 2) == 3 else 1)\""


# Both sandbox tiers: the shell write a read-only phase is caught at, and the revert the harness
# writes into the agent's tree, must hold with and without the jail.
@pytest.mark.parametrize("tier", ["auto", "none"])
def test_a_regression_is_reverted_and_the_pipeline_goes_on(bench, tier):
    gate = f"regression_gate = true\ngate_checks = [{json.dumps(CALC_CHECK)}]"
    toml = pipeline_toml(implement=gate).replace(
        "[verify]", '[[phases]]\nname = "review"\nprompt = "REVIEW the change."\n\n[verify]')
    make_pipeline(bench, toml=toml, repo={"README.md": "# demo\n", "calc.py": CALC})
    broken = "def add(a, b):\n    return a - b\n"
    scripts = {**GOOD, "IMPLEMENT": [call("write_file", path="hello.py", content=HELLO_SOURCE),
                                     call("write_file", path="calc.py", content=broken),
                                     say(fenced(IMPLEMENTED))],
               "REVIEW": [call("read_file", path="calc.py"), say("The code looks fine.")]}
    with ScriptedServer(by_phase(scripts)) as server:
        result = bench.run(server, "--agentbench-sandbox", tier)
    result.assert_outcomes(failed=1)
    attempt = only_attempt(bench)
    implement, review = attempt["phases"][2:]
    assert implement["files_changed"] == ["calc.py", "hello.py"]
    assert implement["regression"] == {"broken": [CALC_CHECK], "reverted": True,
                                       "reverted_files": ["calc.py", "hello.py"]}
    assert review["outcome"] == "ok"  # the pipeline went on, on the reverted tree
    review_request = [r for r in agent_requests(server) if "REVIEW" in r["messages"][1]["content"]][-1]
    read = review_request["messages"][-1]
    assert read["role"] == "tool" and "a + b" in read["content"] and "a - b" not in read["content"]
    assert attempt["outcome"] == "phantom" and attempt["files_changed"] == []


def test_a_clean_change_passes_the_regression_gate(bench):
    gate = f"regression_gate = true\ngate_checks = [{json.dumps(CALC_CHECK)}]"
    make_pipeline(bench, toml=pipeline_toml(implement=gate), repo={"README.md": "# demo\n", "calc.py": CALC})
    with ScriptedServer(by_phase(GOOD)) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    implement = only_attempt(bench)["phases"][2]
    assert implement["regression"] == {"broken": [], "reverted": False, "reverted_files": []}


CALC_TESTS = ("import calc\n\n"
              "def test_add():\n    assert calc.add(1, 2) == 3\n\n"
              "def test_sub():\n    assert calc.sub(3, 1) == 2\n")  # sub() does not exist yet
PYTEST_GATE = "python -m pytest -q -p no:cacheprovider tests"


# Test by test: the gate check already fails (test_sub) before the phase, so a per-command gate
# would never see the phase break test_add. Both sandbox tiers.
@pytest.mark.parametrize("tier", ["auto", "none"])
@pytest.mark.parametrize("how", ["break", "delete"])
def test_the_regression_gate_counts_pytest_tests_one_by_one(bench, tier, how):
    gate = f"regression_gate = true\ngate_checks = [{json.dumps(PYTEST_GATE)}]"
    make_pipeline(bench, toml=pipeline_toml(implement=gate),
                  repo={"README.md": "# demo\n", "calc.py": CALC, "tests/test_calc.py": CALC_TESTS})
    if how == "break":  # breaks add() while it adds sub()
        cheat = call("write_file", path="calc.py",
                     content="def add(a, b):\n    return a - b\n\ndef sub(a, b):\n    return a - b\n")
    else:  # makes sub() pass and deletes the test it cannot keep passing: no way around the gate
        cheat = call("write_file", path="tests/test_calc.py",
                     content="def test_sub():\n    assert True\n")
    scripts = {**GOOD, "IMPLEMENT": [call("write_file", path="hello.py", content=HELLO_SOURCE),
                                     cheat, say(fenced(IMPLEMENTED))]}
    with ScriptedServer(by_phase(scripts)) as server:
        bench.run(server, "--agentbench-sandbox", tier)
    implement = only_attempt(bench)["phases"][2]
    assert implement["regression"]["broken"] == [f"{PYTEST_GATE} :: tests.test_calc::test_add"]
    assert implement["regression"]["reverted"] is True
    assert only_attempt(bench)["files_changed"] == []  # the revert reached the agent's tree


def test_a_fix_that_keeps_every_passing_test_is_not_reverted(bench):
    gate = f"regression_gate = true\ngate_checks = [{json.dumps(PYTEST_GATE)}]"
    make_pipeline(bench, toml=pipeline_toml(implement=gate),
                  repo={"README.md": "# demo\n", "calc.py": CALC, "tests/test_calc.py": CALC_TESTS})
    fix = call("write_file", path="calc.py", content=CALC + "\ndef sub(a, b):\n    return a - b\n")
    scripts = {**GOOD, "IMPLEMENT": [call("write_file", path="hello.py", content=HELLO_SOURCE),
                                     fix, say(fenced(IMPLEMENTED))]}
    with ScriptedServer(by_phase(scripts)) as server:
        bench.run(server)
    attempt = only_attempt(bench)
    assert attempt["phases"][2]["regression"] == {"broken": [], "reverted": False, "reverted_files": []}
    assert attempt["outcome"] == "passed" and attempt["files_changed"] == ["calc.py", "hello.py"]


ITERATING = """\
tier = "lite"
tags = ["pipeline"]
iterations = 2
[iteration]
carry = "reflect.seeds"
distinct = "hypothesize.axis"
window = 2
score = "reflect.score"

[[phases]]
name = "hypothesize"
prompt = "HYPOTHESIZE. Seeds from the last iteration: {{previous}}. Axes used recently (do not repeat them): {{recent}}"
output_schema = { type = "object", required = ["axis"], properties = { axis = { type = "string" } } }

[[phases]]
name = "implement"
prompt = "IMPLEMENT {{hypothesize}}"
writes = true

[[phases]]
name = "reflect"
prompt = "REFLECT on the iteration."
output_schema = { type = "object", required = ["seeds", "score"] }

[verify]
run = [HELLO]
expect_changed = ["hello.py"]
""".replace("HELLO", json.dumps(HELLO_CHECK))


def test_two_iterations_with_a_repeated_axis(bench):
    bench.canary("pipe", toml=ITERATING)
    reflect = {"seeds": ["try observability next"], "score": 6.5}
    scripts = {"HYPOTHESIZE": [say(json.dumps({"axis": "ux_cli"}))],
               "IMPLEMENT": [call("write_file", path="hello.py", content=HELLO_SOURCE), say("Done.")],
               "REFLECT": [say(json.dumps(reflect))]}
    with ScriptedServer(by_phase(scripts)) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    attempt = only_attempt(bench)
    assert [(p["iteration"], p["name"]) for p in attempt["phases"]] == [
        (1, "hypothesize"), (1, "implement"), (1, "reflect"),
        (2, "hypothesize"), (2, "implement"), (2, "reflect")]
    assert attempt["phases"][0]["repeated"] is None and attempt["phases"][3]["repeated"] == "ux_cli"
    assert attempt["iterations"] == [
        {"iteration": 1, "completed": True, "score": 6.5, "distinct": "ux_cli", "repeated": False,
         "tokens": attempt["iterations"][0]["tokens"], "retry": 0},
        {"iteration": 2, "completed": True, "score": 6.5, "distinct": "ux_cli", "repeated": True,
         "tokens": attempt["iterations"][1]["tokens"], "retry": 0}]
    # the second iteration's prompt carried REFLECT's seeds and listed the recent axes
    prompts = [r["messages"][1]["content"] for r in agent_requests(server)
               if r["messages"][1]["content"].startswith("HYPOTHESIZE")]
    assert prompts[0].endswith("(none: this is the first iteration). Axes used recently (do not repeat them): []")
    assert prompts[1] == ('HYPOTHESIZE. Seeds from the last iteration: ["try observability next"]. '
                          'Axes used recently (do not repeat them): ["ux_cli"]')
    trend = bench.report()["pipelines"]["iterations"]
    assert [(r["iteration"], r["mean_score"], r["repeated"]) for r in trend] == [(1, 6.5, 0), (2, 6.5, 1)]
    result.stdout.fnmatch_lines(["*iterations: score 6.5 → 6.5; distinct value repeated 1x*"])


def test_phase_scope_with_a_custom_tool_from_the_hook(bench):
    make_pipeline(bench)
    bench.pytester.makeconftest('''
from pytest_agentbench.agent.tools import Tool

def pytest_agentbench_tools(canary, model):
    return {"run_tests": Tool("run_tests", "Run the tests.", {"type": "object", "properties": {}},
                              lambda context: "ok")}
''')
    with ScriptedServer(by_phase(GOOD)) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    firsts = [r for r in agent_requests(server) if not any(m["role"] == "assistant" for m in r["messages"])]
    offered = [sorted(t["function"]["name"] for t in r["tools"]) for r in firsts]
    assert offered[0] == ["glob", "grep", "list_dir", "read_file", "run_tests", "shell"]
    assert "write_file" in offered[2] and "run_tests" in offered[2]


def test_a_repeated_axis_is_sent_back_when_asked(bench):
    toml = ITERATING.replace('name = "hypothesize"\n', 'name = "hypothesize"\nreprompt_on = ["repeated"]\n')
    bench.canary("pipe", toml=toml)
    scripts = {"HYPOTHESIZE": [say(json.dumps({"axis": "ux_cli"})), say(json.dumps({"axis": "observability"}))],
               "IMPLEMENT": [call("write_file", path="hello.py", content=HELLO_SOURCE), say("Done.")],
               "REFLECT": [say(json.dumps({"seeds": ["more"], "score": 6}))]}
    with ScriptedServer(by_phase(scripts)) as server:
        bench.run(server)
    attempt = only_attempt(bench)
    first, second = attempt["phases"][0], attempt["phases"][3]
    assert first["check_retries"] == 0 and first["output"] == {"axis": "ux_cli"}
    assert second["check_retries"] == 1 and second["output"] == {"axis": "observability"}
    assert second["repeated"] is None
    assert "axis 'ux_cli' was used in a recent iteration (['ux_cli'])" in second["check_problems"][0]
    assert [i["distinct"] for i in attempt["iterations"]] == ["ux_cli", "observability"]
    assert not any(i["repeated"] for i in attempt["iterations"])


def test_an_aborted_iteration_is_run_again_when_asked(bench):
    # Run B: iteration 2 aborted ("no hypotheses"), its retry completed.
    toml = ITERATING.replace("score = \"reflect.score\"", "score = \"reflect.score\"\nretry_aborted = 1")
    assert "retry_aborted = 1" in toml
    bench.canary("pipe", toml=toml)
    calls = {"n": 0}

    def hypothesize(body: dict) -> dict:
        calls["n"] += 1  # 1st iteration fine; the 2nd answers prose twice (abort); its retry fine
        if calls["n"] in (2, 3):
            return say("I have no hypotheses this time.")
        return say(json.dumps({"axis": f"axis{calls['n']}"}))

    scripts = {"HYPOTHESIZE": hypothesize,
               "IMPLEMENT": [call("write_file", path="hello.py", content=HELLO_SOURCE), say("Done.")],
               "REFLECT": [say(json.dumps({"seeds": ["more"], "score": 6}))]}

    def reply(body: dict) -> dict:
        task = next(m["content"] for m in body["messages"] if m["role"] == "user")
        if task.startswith("HYPOTHESIZE"):
            return hypothesize(body)
        return by_phase(scripts)(body)

    with ScriptedServer(reply) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    attempt = only_attempt(bench)
    assert [(i["iteration"], i["retry"], i["completed"]) for i in attempt["iterations"]] == [
        (1, 0, True), (2, 0, False), (2, 1, True)]
    aborted = [p for p in attempt["phases"] if p["iteration"] == 2 and p["retry"] == 0]
    assert [p["outcome"] for p in aborted] == ["invalid_output", "skipped", "skipped"]
    assert attempt["stop_reason"] == "final"


def test_without_retry_aborted_an_aborted_iteration_ends_the_pipeline(bench):
    bench.canary("pipe", toml=ITERATING)
    scripts = {"HYPOTHESIZE": [say("No idea.")], "IMPLEMENT": [say("Done.")], "REFLECT": [say("{}")]}
    with ScriptedServer(by_phase(scripts)) as server:
        bench.run(server)
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "invalid_output"
    assert [(i["iteration"], i["completed"]) for i in attempt["iterations"]] == [(1, False)]


def test_a_tally_counts_a_fields_values_per_model(bench):
    toml = pipeline_toml(hypothesize_prompt="HYPOTHESIZE. The map: {{explore}}").replace(
        'prompt = "HYPOTHESIZE', 'tally = ["axis"]\nprompt = "HYPOTHESIZE')
    assert 'tally = ["axis"]' in toml
    make_pipeline(bench, toml=toml)
    with ScriptedServer(by_phase(GOOD)) as server:
        result = bench.run(server, repeats=2)
    row = next(r for r in bench.report()["pipelines"]["phases"] if r["phase"] == "hypothesize")
    assert row["tally"] == {"axis": {"ux_cli": 2}}
    assert only_attempts_phase(bench, "hypothesize") == [{"axis": ["ux_cli"]}] * 2
    result.stdout.fnmatch_lines(["  hypothesize axis: ux_cli 2"])


def only_attempts_phase(bench, name: str) -> list:
    return [next(p["tally"] for p in a["phases"] if p["name"] == name) for a in bench.report()["attempts"]]


def test_an_implementation_off_the_hypothesis_plan_is_recorded(bench):
    # Hypothesis-implementation drift: a plan for hello.py, a logging utility built.
    make_pipeline(bench, toml=pipeline_toml(implement='plan_files = "hypothesize.files"'))
    planned = {**HYPOTHESIS, "files": ["./hello.py"]}
    drifter = [call("write_file", path="logging_util.py", content="import logging\n"),
               call("write_file", path="hello.py", content=HELLO_SOURCE), say(fenced(IMPLEMENTED))]
    for script, off, untouched in ((GOOD["IMPLEMENT"], [], []),
                                   (drifter, ["logging_util.py"], []),
                                   (drifter[:1] + drifter[2:], ["logging_util.py"], ["hello.py"])):
        scripts = {**GOOD, "HYPOTHESIZE": [say(json.dumps(planned))], "IMPLEMENT": script}
        with ScriptedServer(by_phase(scripts)) as server:
            result = bench.run(server)
        implement = only_attempt(bench)["phases"][2]
        assert implement["plan_checked"] is True
        assert (implement["off_plan"], implement["plan_untouched"]) == (off, untouched)
    row = next(r for r in bench.report()["pipelines"]["phases"] if r["phase"] == "implement")
    assert (row["off_plan"], row["plan_checked"], row["off_plan_rate"]) == (1, 1, 1.0)
    result.stdout.fnmatch_lines(["*phase*drift*off plan*reverted*", "  implement *1/1*"])


def test_plan_files_must_name_an_earlier_phases_field(tmp_path):
    from pytest_agentbench.schemas.canary import CanaryError, load_canary

    (tmp_path / "repo").mkdir()
    for reference, message in (('"reflect.files"', "'reflect' is not an earlier phase"),
                               ('"hypothesize"', "name a field of 'hypothesize'")):
        (tmp_path / "canary.toml").write_text(pipeline_toml(implement=f"plan_files = {reference}"))
        (tmp_path / "schemas").mkdir(exist_ok=True)
        (tmp_path / "schemas" / "explore.json").write_text(json.dumps(EXPLORE_SCHEMA))
        with pytest.raises(CanaryError, match=message):
            load_canary(tmp_path / "canary.toml")


DEEP_WRITE = ("python -c \"import os\n"
              "p = 'deep'\n"
              "for i in range(140): p = os.path.join(p, 'd')\n"
              "os.makedirs(p)\n"
              "open('hello.py', 'w').write('def hello():\\n    return \\'hi\\'\\n')\"")


# Both sandbox tiers: a read-only phase that does the writing phase's work through the shell gets
# no credit for it: the write is recorded and undone, also when a directory too deep to walk hides it.
@pytest.mark.parametrize("tier", ["auto", "none"])
@pytest.mark.parametrize("how", ["plain", "deep"])
def test_a_read_only_phase_cannot_do_the_work(bench, tier, how):
    make_pipeline(bench)
    command = ("printf 'def hello():\\n    return \\\\'hi\\\\'\\n' > hello.py && cat hello.py"
               if how == "plain" else DEEP_WRITE)
    scripts = {**GOOD, "HYPOTHESIZE": [call("shell", command=command), say(json.dumps(HYPOTHESIS))],
               "IMPLEMENT": [say(fenced(IMPLEMENTED))]}  # claims the change, makes none
    with ScriptedServer(by_phase(scripts)) as server:
        bench.run(server, "--agentbench-sandbox", tier)
    attempt = only_attempt(bench)
    hypothesize, implement = attempt["phases"][1:3]
    assert hypothesize["violation"] and hypothesize["violation_reverted"] is True, hypothesize
    if how == "plain":
        assert hypothesize["violation"] == ["hello.py"]
    assert implement["phantom"] is True
    assert attempt["outcome"] == "phantom", attempt["detail"]


def test_a_phase_cut_by_its_budget_is_no_json_failure(bench):
    make_pipeline(bench)
    scripts = {**GOOD, "EXPLORE": [call("read_file", path="README.md")] * 6}  # 5 turns: cut off
    with ScriptedServer(by_phase(scripts)) as server:
        result = bench.run(server)
    explore = only_attempt(bench)["phases"][0]
    assert explore["outcome"] == "budget_turns" and explore["json_ok"] is None, explore
    assert explore["seconds"] > 0 and explore["turns"] == 5
    row = next(r for r in bench.report()["pipelines"]["phases"] if r["phase"] == "explore")
    assert (row["budget"], row["json_checked"], row["json_never"]) == (1, 0, 0)
    assert row["mean_turns"] == 5
    result.stdout.fnmatch_lines(["*phase*json 1st*json ok*budget*s*turns*tokens*",
                                 "  explore *1/1*-*-*1/1*"])


DIRECTIVE = "Before you finish, check every file the task names."


def test_a_directive_reaches_every_phase_that_sets_its_own_system_prompt(bench):
    """A directive sweep must reach the phases: appended to a phase's own system prompt, unless
    the phase says model_prompt = false."""
    toml = pipeline_toml().replace(
        'name = "hypothesize"\n', 'name = "hypothesize"\nsystem_prompt = "You write hypotheses."\n').replace(
        'name = "implement"\n', 'name = "implement"\nsystem_prompt = "You implement."\nmodel_prompt = false\n')
    make_pipeline(bench, toml=toml)
    (bench.pytester.path / "pyproject.toml").write_text(
        f'[tool.agentbench.directives]\ncompleteness = "{DIRECTIVE}"\n')
    with ScriptedServer(by_phase(GOOD)) as server:
        bench.run(server, "--agentbench-sweep", "directive=completeness")
        requests = agent_requests(server)
    systems = {}
    for request in requests:
        task = next(m["content"] for m in request["messages"] if m["role"] == "user")
        systems[task.split()[0].rstrip(".")] = request["messages"][0]["content"]
    assert systems["HYPOTHESIZE"].startswith("You write hypotheses.") and DIRECTIVE in systems["HYPOTHESIZE"]
    assert systems["IMPLEMENT"] == "You implement."  # model_prompt = false
    assert DIRECTIVE in systems["EXPLORE"]  # no system_prompt of its own: the model's, as ever
    assert only_attempt(bench)["outcome"] == "passed"


def test_a_judge_check_reads_a_phases_output(bench):
    """artifact = "phase:NAME": the judge reads what that phase answered; a phase that left no
    output fails the check (the model's doing); a phase name the canary lacks is a load error."""
    judged = pipeline_toml() + textwrap.dedent("""\
        [[verify.judge]]
        artifact = "phase:hypothesize"
        criteria = "The hypothesis names hello.py."
        judge = "big"
        mode = "direct"
        """)
    make_pipeline(bench, toml=judged)

    def big(body: dict) -> dict:
        text = json.dumps(body["messages"])
        verdict = "pass" if "the output of phase hypothesize" in text and "hello.py" in text else "fail"
        return say(json.dumps({"verdict": verdict, "reason": f"judged {verdict}"}))

    with ScriptedServer({"m": by_phase(GOOD), "big": big}) as server:
        (bench.pytester.path / "agentbench.toml").write_text(f'[models.big]\nbase_url = "{server.url}"\n')
        bench.run(server, models="m")
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "passed", attempt["detail"]
    assert [(j["artifact"], j["verdict"]) for j in attempt["judges"]] == [("phase:hypothesize", "pass")]

    make_pipeline(bench, toml=judged.replace("phase:hypothesize", "phase:nope"))
    result = bench.pytester.runpytest("canaries", "--models", "m@http://127.0.0.1:9/v1", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*artifact 'phase:nope' names no phase of this canary*"])


# -- a claimed result checked against the command's recorded run ------------------------------------

CLAIMS_TOML = textwrap.dedent(f"""\
    tier = "lite"
    tags = ["pipeline"]

    [[phases]]
    name = "implement"
    prompt = "IMPLEMENT hello.py."
    writes = true
    output_schema = {{ type = "object", required = ["changes"], properties = {{ changes = {{ type = "array" }} }} }}

    [[phases]]
    name = "red_team"
    prompt = "ATTACK the implementation: {{{{implement}}}}"
    tools = ["read_file", "shell"]
    output_schema = {{ type = "object", required = ["attacks"], properties = {{ attacks = {{ type = "array", items = {{ type = "object", required = ["command", "result"] }} }} }} }}
    [phases.claims]
    "attacks.command" = "commands"

    [verify]
    run = [{json.dumps(HELLO_CHECK)}]
    expect_changed = ["hello.py"]
    """)
CALL_HELLO = "python -c 'import hello; print(hello.hello())'"
CALL_MISSING = "python -c 'import hello; print(hello.goodbye())'"


def _red_team(command: str, result: str) -> list[dict]:
    attacks = {"attacks": [{"command": command, "result": result}]}
    return [call("shell", command=command), say(fenced(attacks))]


# Both sandbox tiers: the shell's exit status and output, recorded in the jail and without it,
# are what a claimed result is compared with.
@pytest.mark.parametrize("tier", ["auto", "none"])
def test_an_honest_claimed_result_holds_and_a_false_success_is_hallucinated(bench, tier):
    make_pipeline(bench, toml=CLAIMS_TOML)
    implement = [call("write_file", path="hello.py", content=HELLO_SOURCE), say(fenced(IMPLEMENTED))]
    honest = {"IMPLEMENT": implement, "ATTACK": _red_team(CALL_HELLO, "works, prints hi")}
    with ScriptedServer(by_phase(honest)) as server:
        bench.run(server, "--agentbench-sandbox", tier)
    red_team = only_attempt(bench)["phases"][1]
    assert red_team["claims_checked"] is True
    assert red_team["hallucinated"] == [] and red_team["hallucinated_reasons"] == []

    lying = {"IMPLEMENT": implement, "ATTACK": _red_team(CALL_MISSING, "works, prints hi")}
    with ScriptedServer(by_phase(lying)) as server:
        result = bench.run(server, "--agentbench-sandbox", tier)
    result.assert_outcomes(passed=1)  # the checks decide the verdict; the claim is recorded
    red_team = only_attempt(bench)["phases"][1]
    assert red_team["hallucinated"] == [CALL_MISSING]
    assert red_team["hallucinated_reasons"] == [
        (f"claimed 'works, prints hi', but `{CALL_MISSING}` exited 1: AttributeError: module 'hello' "
         "has no attribute 'goodbye'")]
    row = next(r for r in bench.report()["pipelines"]["phases"] if r["phase"] == "red_team")
    assert row["hallucinated"] == 1 and row["hallucination_rate"] == 1.0


def test_a_false_claimed_result_is_sent_back_when_asked(bench):
    toml = CLAIMS_TOML.replace('tools = ["read_file", "shell"]',
                               'tools = ["read_file", "shell"]\nreprompt_on = ["hallucinated"]')
    make_pipeline(bench, toml=toml)
    corrected = {"attacks": [{"command": CALL_MISSING, "result": "raises AttributeError: no goodbye()"}]}
    scripts = {"IMPLEMENT": [call("write_file", path="hello.py", content=HELLO_SOURCE), say(fenced(IMPLEMENTED))],
               "ATTACK": [*_red_team(CALL_MISSING, "passes"), say(fenced(corrected))]}
    with ScriptedServer(by_phase(scripts)) as server:
        bench.run(server)
    red_team = only_attempt(bench)["phases"][1]
    assert red_team["check_retries"] == 1 and red_team["hallucinated"] == []
    assert red_team["output"] == corrected
    problem = red_team["check_problems"][0]
    assert f"{CALL_MISSING}: claimed 'passes', but `{CALL_MISSING}` exited 1: AttributeError" in problem
    sent = [r for r in agent_requests(server) if "ATTACK" in r["messages"][1]["content"]][-1]
    assert "report what the command really did" in sent["messages"][-1]["content"]
