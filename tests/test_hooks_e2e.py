"""The pytest_agentbench_* hooks that run where the attempt runs (tools, request, attempt_started,
classify) and the report hook, end to end: a conftest.py in the pytester directory implements
them, a ScriptedServer plays the model. Under ``-n 2`` too: worker-side hooks run in the workers,
what they write comes back through files and the report."""

from __future__ import annotations

import json

import pytest

from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import agent_requests

CONFTEST = '''
import json
from pathlib import Path

from pytest_agentbench.agent.tools import Tool, ToolError

LOG = Path(__file__).parent / "hook-log.jsonl"


def _log(**event):
    with LOG.open("a") as handle:
        handle.write(json.dumps(event) + "\\n")


def shout(context, text):
    if not text:
        raise ToolError("text must not be empty")
    (context.root / "shout.txt").write_text(text.upper())
    return f"wrote {len(text)} characters"


def pytest_agentbench_tools(canary, model):
    return {"shout": Tool("shout", "Write TEXT, upper-cased, to shout.txt.",
                          {"type": "object", "properties": {"text": {"type": "string"}},
                           "required": ["text"]}, shout)}


def pytest_agentbench_request(body, attempt):
    body["x_canary"] = attempt["canary"]


def pytest_agentbench_attempt_started(attempt):
    _log(hook="started", **attempt)


def pytest_agentbench_classify(result, verification):
    _log(hook="classify", outcome=result.outcome, changed=verification.change.files_changed)
    if result.model == "strict" and result.outcome == "passed" and result.turns > 2:
        return "failed"  # this project's rule: a pass must take at most two turns
    return None


def pytest_agentbench_report(report):
    report["team"] = {"attempts_seen": len(report["attempts"])}
'''

CANARY = """\
tier = "lite"
prompt = "Shout HELLO into shout.txt."
tools = ["read_file"]
[verify]
run = ["grep -q HELLO shout.txt"]
expect_changed = ["shout.txt"]
"""

SHOUT = [call("shout", text="hello"), say("Done.")]
SLOW_SHOUT = [call("read_file", path="README.md"), call("shout", text="hello"), say("Done.")]


@pytest.mark.parametrize("workers", [None, "2"])
def test_worker_side_hooks_and_the_report_hook(bench, workers):
    bench.pytester.makeconftest(CONFTEST)
    bench.canary(toml=CANARY)
    args = ["-n", workers] if workers else []
    with ScriptedServer({"lenient": SLOW_SHOUT, "strict": SLOW_SHOUT, "quick": SHOUT}) as server:
        bench.run(server, *args, models="lenient,strict,quick")
        requests = agent_requests(server)
    report = bench.report()
    outcomes = {a["model"]: a for a in report["attempts"]}
    # tools: the custom tool was offered beside the canary's list and really ran
    assert outcomes["lenient"]["outcome"] == "passed" and outcomes["quick"]["outcome"] == "passed"
    offered = {t["function"]["name"] for t in requests[0]["tools"]}
    assert offered == {"read_file", "shout"}
    # request: every body carried the field the hook added
    assert requests and all(r.get("x_canary") == "hello" for r in requests)
    # classify: the project's own rule overrode the built-in verdict, and says so
    strict = outcomes["strict"]
    assert strict["outcome"] == "failed"
    assert "outcome passed changed to failed by a pytest_agentbench_classify hook" in strict["detail"]
    # attempt_started: once per attempt, with the worktree
    log = [json.loads(line) for line in (bench.pytester.path / "hook-log.jsonl").read_text().splitlines()]
    started = [e for e in log if e["hook"] == "started"]
    assert sorted(e["model"] for e in started) == ["lenient", "quick", "strict"]
    assert all(e["canary"] == "hello" and e["worktree"] for e in started)
    assert sorted(e["changed"] for e in log if e["hook"] == "classify") == [["shout.txt"]] * 3
    # report: on the controller, the extra field is in the JSON report
    assert report["team"] == {"attempts_seen": 3}


def test_a_classify_hook_that_answers_nonsense_is_a_loud_harness_error(bench):
    bench.pytester.makeconftest("def pytest_agentbench_classify(result, verification):\n"
                                "    return 'great'\n")
    bench.canary()
    with ScriptedServer([call("write_file", path="hello.py", content="def hello():\n    return 'hi'\n"),
                         say("Done.")]) as server:
        bench.run(server)
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "infra_error" and attempt["stop_reason"] == "harness_error"
    assert "pytest_agentbench_classify returned 'great'" in attempt["detail"]


@pytest.mark.parametrize("tier", ["bubblewrap", "none"])
def test_an_annotate_hook_that_turns_a_failure_into_a_pass_is_refused_and_the_attempt_kept(bench, tier):
    """A measurement hook that tries to change the verdict: the attempt is a loud harness error
    (never a pass, never missing), in both sandbox tiers."""
    bench.pytester.makeconftest("def pytest_agentbench_annotate(result, canary, verification):\n"
                                "    result.outcome = 'passed'\n")
    bench.canary()
    with ScriptedServer([say("I wrote hello.py.")]) as server:  # a phantom, dressed up as a pass
        bench.run(server, "--agentbench-sandbox", tier, repeats=2)
    attempts = bench.report()["attempts"]
    assert len(attempts) == 2
    assert all(a["outcome"] == "infra_error" and a["stop_reason"] == "harness_error" for a in attempts)
    assert all("changed the outcome from phantom to passed" in a["detail"] for a in attempts)


DRIVER_CONFTEST = '''
from pytest_agentbench.agent.loop import LoopResult


class Scripted:
    """A driver of the project's own: writes the answer itself, no model involved."""

    def __init__(self, setup):
        self.setup, self.budget = setup, setup.budget

    def run(self, prompt):
        (self.setup.workspace.worktree / "shout.txt").write_text("HELLO")
        return LoopResult(stop_reason="final", detail="the scripted driver wrote shout.txt", turns=1)

    def resume(self, feedback):
        return LoopResult(stop_reason="final", detail="nothing more to do")


def pytest_agentbench_driver(setup):
    if setup.model.name == "own":
        return Scripted(setup)
    return None
'''


def test_a_conftest_driver_takes_the_attempts_it_claims_and_the_builtin_loop_the_rest(bench):
    bench.pytester.makeconftest(DRIVER_CONFTEST)
    bench.canary(toml=CANARY.replace('tools = ["read_file"]\n', ""))
    with ScriptedServer({"own": [say("never asked")], "loop": [call("write_file", path="shout.txt", content="HELLO"),
                                                                say("Done.")]}) as server:
        bench.run(server, models="own,loop")
        requests = agent_requests(server)
    by_model = {a["model"]: a for a in bench.report()["attempts"]}
    assert by_model["own"]["outcome"] == "passed", by_model["own"]["detail"]
    assert "the scripted driver wrote shout.txt" in by_model["own"]["detail"]
    assert by_model["loop"]["outcome"] == "passed", by_model["loop"]["detail"]
    assert {r["model"] for r in requests} == {"loop"}  # the own driver asked no model


CHOOSING_CONFTEST = '''
import json
from pathlib import Path

from pytest_agentbench.run.variants import ModelChoice, VariantChoice, Variant
from pytest_agentbench.schemas.models import resolve_models

LOG = Path(__file__).parent / "choose-log.jsonl"


def _log(**event):
    with LOG.open("a") as handle:
        handle.write(json.dumps(event) + "\\n")


def pytest_agentbench_select_models(config, registry, base_url, model_names):
    if config.getini("team_pair") != "yes":
        return None
    return ModelChoice("team_pair", resolve_models(["fixer", "idler"], base_url, registry))


def pytest_agentbench_variants(config, models, directives, confidence):
    return VariantChoice("team_pair", [Variant("temperature=0.3", {"temperature": 0.3})])


def pytest_agentbench_session_started(session):
    _log(hook="session", models=[m.name for m in session.settings.models])


def pytest_agentbench_annotate(result, canary, verification):
    # A measurement of the final verdict: the project's own, never the outcome.
    result.progress = {"expected": 1, "changed": len(verification.change.files_changed)}
    _log(hook="annotate", model=result.model, outcome=result.outcome)


def pytest_addoption(parser):
    parser.addini("team_pair", "choose the pair", default="no")
'''


@pytest.mark.parametrize("workers", [None, "2"])
def test_a_conftest_chooses_the_models_and_variants_and_annotates_results(bench, workers):
    bench.pytester.makeconftest(CHOOSING_CONFTEST)
    bench.pytester.makeini("[pytest]\nteam_pair = yes\n")
    bench.canary(toml=CANARY.replace('tools = ["read_file"]\n', ""))
    fixer = [call("write_file", path="shout.txt", content="HELLO"), say("Done.")]
    with ScriptedServer({"fixer": fixer, "idler": [say("I changed shout.txt.")]}) as server:
        # No --models: the conftest chooses them, on the server --agentbench-base-url names.
        bench.pytester.runpytest("canaries", "--repeats", "1", "--agentbench-base-url", server.url,
                                 "--agentbench-json", "report.json", "-p", "no:cacheprovider",
                                 *(["-n", workers] if workers else []))
        requests = agent_requests(server)
    by_model = {a["model"]: a for a in bench.report()["attempts"]}
    assert {m: a["outcome"] for m, a in by_model.items()} == {"fixer": "passed", "idler": "phantom"}
    assert {a["variant"] for a in by_model.values()} == {"temperature=0.3"}
    assert {r["temperature"] for r in requests} == {0.3}
    assert by_model["fixer"]["progress"] == {"expected": 1, "changed": 1}
    assert by_model["idler"]["progress"] == {"expected": 1, "changed": 0}
    log = [json.loads(line) for line in (bench.pytester.path / "choose-log.jsonl").read_text().splitlines()]
    assert all(e["models"] == ["fixer", "idler"] for e in log if e["hook"] == "session")
    assert sorted((e["model"], e["outcome"]) for e in log if e["hook"] == "annotate") == [
        ("fixer", "passed"), ("idler", "phantom")]


def test_two_choices_of_the_models_are_a_usage_error_naming_both(bench):
    bench.pytester.makeconftest(CHOOSING_CONFTEST)
    bench.pytester.makeini("[pytest]\nteam_pair = yes\n")
    bench.canary(toml=CANARY)
    (bench.pytester.path / "pyproject.toml").write_text(
        '[tool.agentbench.models.a]\nbase_url = "http://127.0.0.1:9/v1"\n'
        '[tool.agentbench.roles.coder]\nincumbent = "a"\ncanaries = ["hello"]\n')
    result = bench.pytester.runpytest("--agentbench-role", "coder")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*team_pair and --agentbench-role cannot be combined*"])
