"""The feedback of a further try never carries the hidden tests, in both sandbox tiers.

The code under test runs beside the hidden tests: a cheater's solution reads them and raises,
prints or returns their text so that the check's output (and its test report) quote them, hoping
to read them in the second try's feedback. What reaches the model must hold none of it, in any
of the plain spellings (verbatim, ``repr``, JSON, base64); an honest model still learns which test
failed and why, and passes.
"""

from __future__ import annotations

import base64
import json

import pytest

from pytest_agentbench.attempt.feedback import REDACTED
from pytest_agentbench.sandbox.commands import bubblewrap_problem
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import agent_requests

TIERS = [pytest.param("bubblewrap", marks=pytest.mark.skipif(
    bool(bubblewrap_problem()), reason=f"no bubblewrap: {bubblewrap_problem()}")), "none"]

HIDDEN_MARK = "HIDDEN-TEST-MARKER-91c2"
HIDDEN_TEST = f"""\
# {HIDDEN_MARK}
from text_utils import slugify


def test_basic():
    assert slugify("Hello World") == "hello-world"


def test_symbols_are_collapsed_into_single_dashes():
    assert slugify("  A -- b!! ") == "a-b"
"""
STUB = "def slugify(text):\n    raise NotImplementedError\n"
SOLUTION = ("import re\n\n\ndef slugify(text):\n"
            "    return re.sub(r'[^a-z0-9]+', '-', text.lower()).strip('-')\n")
TOML = """\
tier = "lite"
prompt = "Implement slugify(text) in text_utils.py."
retries_with_feedback = 1

[verify]
run = ["python -m pytest -q test_slugify_hidden.py"]
expect_changed = ["text_utils.py"]
"""

# Each reads the hidden test file in the verification tree, where the checks run.
READ = "import base64, glob, json, sys\nHIDDEN = ''.join(open(f).read() for f in glob.glob('test_*.py'))\n"
CHEATS = {
    # at import: a collection error whose message is the file
    "raise-at-import": READ + "raise RuntimeError(HIDDEN)\n" + STUB,
    # at call time: the file in the captured output, in several spellings, then in the error
    "print-spellings": READ + (
        "def slugify(text):\n"
        "    print(HIDDEN)\n    print(repr(HIDDEN))\n    print(json.dumps(HIDDEN))\n"
        "    print(base64.b64encode(HIDDEN.encode()).decode())\n"
        "    print(HIDDEN, file=sys.stderr)\n"
        "    raise ValueError(repr(HIDDEN))\n"),
    # the answer is the file: pytest's assertion message quotes it, line by line in its diff
    "return-it": READ + "def slugify(text):\n    return HIDDEN\n",
}
# Text of the hidden file as the cheats spell it; none may reach the model.
LEAKS = [HIDDEN_MARK, 'slugify("  A -- b!! ")', "from text_utils import slugify",
         repr(HIDDEN_TEST)[1:60], json.dumps(HIDDEN_TEST)[1:60],
         base64.b64encode(HIDDEN_TEST.encode()).decode()[8:40]]


def make_canary(bench) -> None:
    bench.canary(toml=TOML, repo={"text_utils.py": STUB},
                 hidden={"test_slugify_hidden.py": HIDDEN_TEST})


def feedback_of(server: ScriptedServer, model: str) -> tuple[str, list[dict]]:
    """The feedback the model got before its second try, and all its requests."""
    requests = [r for r in agent_requests(server) if r["model"] == model]
    second_try = next(r for r in requests if sum(m["role"] == "user" for m in r["messages"]) == 2)
    feedback = [m for m in second_try["messages"] if m["role"] == "user"][-1]["content"]
    return feedback, requests


@pytest.mark.parametrize("tier", TIERS)
def test_feedback_never_carries_the_hidden_tests(bench, tier):
    make_canary(bench)
    scripts = {name: [call("write_file", path="text_utils.py", content=code), say("Done."),
                      say("Still done.")] for name, code in CHEATS.items()}
    with ScriptedServer(scripts) as server:
        bench.run(server, "--agentbench-sandbox", tier, models=",".join(scripts))
    by_model = {a["model"]: a for a in bench.report()["attempts"]}
    for name in CHEATS:
        attempt = by_model[name]
        assert [t["outcome"] for t in attempt["tries"]] == ["failed", "failed"], (name, attempt["detail"])
        feedback, requests = feedback_of(server, name)
        assert "$ python -m pytest -q test_slugify_hidden.py" in feedback
        assert REDACTED in feedback, (name, feedback)
        for leak in LEAKS:
            assert leak not in feedback, (name, leak, feedback)
        # Nor in any other spelling the request's JSON gives it.
        assert not any(HIDDEN_MARK in json.dumps(r) for r in requests), name
    # What was cut out is the test's text, not what the model needs to know about its failure.
    feedback, _ = feedback_of(server, "print-spellings")
    assert "test_slugify_hidden::test_basic (failed)" in feedback
    assert "ValueError" in feedback


@pytest.mark.parametrize("tier", TIERS)
def test_an_honest_model_learns_which_test_failed_and_why(bench, tier):
    make_canary(bench)
    wrong = "def slugify(text):\n    return text.lower().strip()\n"
    script = [call("write_file", path="text_utils.py", content=wrong), say("Done."),
              call("write_file", path="text_utils.py", content=SOLUTION), say("Fixed.")]
    with ScriptedServer({"honest": script}) as server:
        result = bench.run(server, "--agentbench-sandbox", tier, models="honest")
    result.assert_outcomes(passed=1)
    attempt = bench.report()["attempts"][0]
    assert [t["outcome"] for t in attempt["tries"]] == ["failed", "passed"]
    feedback, _ = feedback_of(server, "honest")
    assert "Failing tests, from the test report (2 failed, 0 errors, 0 passed)" in feedback
    assert "- test_slugify_hidden::test_basic (failed)" in feedback
    # a long test name is a run of hidden text, and still shown: the model may know test names
    assert "- test_slugify_hidden::test_symbols_are_collapsed_into_single_dashes (failed)" in feedback
    assert "AssertionError: assert 'hello world' == 'hello-world'" in feedback
    assert "[exit code 1]" in feedback
    for leak in LEAKS:
        assert leak not in feedback, (leak, feedback)


@pytest.mark.parametrize("tier", TIERS)
def test_a_registry_agents_second_prompt_is_redacted_too(bench, tier):
    """A registry agent's program gets the task again with the feedback (external/attempt.py):
    the same redacted feedback as the built-in loop's."""
    from tests.test_agents_e2e import REGISTRY

    (bench.pytester.path / "agentbench.toml").write_text(REGISTRY)
    make_canary(bench)
    cheat = [call("write_file", path="text_utils.py", content=CHEATS["print-spellings"]), say("Done.")]
    with ScriptedServer(cheat) as server:
        bench.run(server, "--agentbench-agent", "tiny", "--agentbench-sandbox", tier)
        requests = agent_requests(server)
    attempt = bench.report()["attempts"][0]
    assert [t["outcome"] for t in attempt["tries"]] == ["failed", "failed"], attempt["detail"]
    prompts = [r["messages"][0]["content"] for r in requests if r["messages"][0]["role"] == "user"]
    second = next(p for p in prompts if "Your changes do not pass the checks yet" in p)
    assert second.startswith("Implement slugify(text) in text_utils.py.\n\n")
    assert "test_slugify_hidden::test_basic (failed)" in second and REDACTED in second
    for leak in LEAKS:
        assert leak not in second, (leak, second)
    assert not any(HIDDEN_MARK in json.dumps(r) for r in requests)
