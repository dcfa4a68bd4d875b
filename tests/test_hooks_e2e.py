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
