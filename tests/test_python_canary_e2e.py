"""Python canaries (@pytest.mark.canary + the ``agent`` fixture) end to end: the same
model × repeat parametrization, outcomes and reporting as canary.toml files."""

from __future__ import annotations

import textwrap

from pytest_agentbench.testing import ScriptedServer, call, http_error, say
from tests.conftest import HELLO_SOURCE

WRITE_HELLO = call("write_file", path="hello.py", content=HELLO_SOURCE)

CANARY_MODULE = '''
import pytest

@pytest.mark.canary(tier="lite", repo="hello_repo", tags=["python", "greeting"])
def test_hello(agent):
    """Create hello.py."""
    run = agent.run("Create hello.py with a function hello() that returns 'hi'.")
    assert "hello.py" in run.files_changed, run.detail
    assert "+def hello" in run.diff
    check = agent.check("python -c 'import hello; assert hello.hello() == \\"hi\\"'")
    assert check.ok, check.output
'''


def write_python_canary(bench, body: str = CANARY_MODULE) -> None:
    root = bench.pytester.path / "canaries"
    (root / "hello_repo").mkdir(parents=True, exist_ok=True)
    (root / "hello_repo" / "README.md").write_text("# demo\n")
    (root / "test_hello_canary.py").write_text(textwrap.dedent(body))


def test_python_canary_is_parametrized_and_reported_like_toml_ones(bench):
    write_python_canary(bench)
    bench.canary()  # a TOML canary beside it: both are reported together
    with ScriptedServer([WRITE_HELLO, say("Created hello.py.")]) as server:
        result = bench.run(server, repeats=2, models="m1,m2")
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(["*test_hello_canary.py::test_hello?m1-r0? PASSED*",
                                 "*test_hello_canary.py::test_hello?m2-r1? PASSED*"])
    attempts = [a for a in bench.report()["attempts"] if a["canary"] == "test_hello_canary.test_hello"]
    assert len(attempts) == 4
    assert {(a["model"], a["repeat"]) for a in attempts} == {("m1", 0), ("m1", 1), ("m2", 0), ("m2", 1)}
    assert all(a["outcome"] == "passed" and a["files_changed"] == ["hello.py"] for a in attempts)
    assert all(a["tier"] == "lite" and a["tags"] == ["python", "greeting"] for a in attempts)
    assert all(a["turns"] == 2 for a in attempts)


def test_python_canary_outcomes(bench):
    write_python_canary(bench)
    scripts = {
        "good": [WRITE_HELLO, say("Done.")],
        "talker": [say("I created hello.py.")],  # changes nothing: phantom
        "wrong": [call("write_file", path="hello.py", content="def hello():\n    return 'no'\n"),
                  say("Done.")],
        "down": [http_error(500)] * 20,
    }
    with ScriptedServer(scripts) as server:
        bench.run(server, "--agentbench-retries", "0", models="good,talker,wrong,down")
    outcomes = {a["model"]: a["outcome"] for a in bench.report()["attempts"]}
    assert outcomes == {"good": "passed", "talker": "phantom", "wrong": "failed", "down": "infra_error"}
    by_model = {a["model"]: a for a in bench.report()["attempts"]}
    assert "test failed: AssertionError" in by_model["wrong"]["detail"]


def test_tier_selection_and_keywords_apply(bench):
    write_python_canary(bench)
    with ScriptedServer([WRITE_HELLO, say("Done.")]) as server:
        heavy = bench.run(server, "--tier", "heavy")
        by_tag = bench.run(server, "-k", "greeting")
    heavy.assert_outcomes()
    by_tag.assert_outcomes(passed=1)


def test_bad_marker_is_a_clear_collection_error(bench):
    write_python_canary(bench, CANARY_MODULE.replace('repo="hello_repo"', 'repo="missing"'))
    with ScriptedServer([say("x")]) as server:
        result = bench.run(server)
    result.stdout.fnmatch_lines(["*test_hello_canary.py::test_hello: @pytest.mark.canary: "
                                 "field 'repo': *missing is not a directory*"])
    assert result.ret != 0


def test_agent_fixture_without_marker_says_what_is_missing(bench):
    write_python_canary(bench, "def test_x(agent):\n    agent.run('x')\n")
    with ScriptedServer([say("x")]) as server:
        result = bench.run(server)
    result.stdout.fnmatch_lines(["*needs @pytest.mark.canary(tier=..., repo=...)*"])


def test_python_canaries_under_xdist(bench):
    write_python_canary(bench)
    with ScriptedServer([WRITE_HELLO, say("Done.")]) as server:
        result = bench.run(server, "-n", "2", repeats=3, subprocess=True)
    result.assert_outcomes(passed=3)
    assert sorted(a["repeat"] for a in bench.report()["attempts"]) == [0, 1, 2]


def shipped_example(bench) -> str:
    """examples/python_canary copied in as the suite; the starting inventory.py."""
    import shutil
    from pathlib import Path

    example = Path(__file__).parent.parent / "examples" / "python_canary"
    shutil.copytree(example, bench.pytester.path / "canaries")
    return (example / "inventory_repo" / "inventory.py").read_text()


def test_the_shipped_example_passes_with_a_right_answer_and_is_phantom_without(bench):
    source = shipped_example(bench)
    solved = source + (
        "\n    def remove(self, item: str, quantity: int = 1) -> None:\n"
        "        if quantity <= 0 or self._stock.get(item, 0) < quantity:\n"
        "            raise ValueError('not enough in stock')\n"
        "        self._stock[item] -= quantity\n"
        "        if not self._stock[item]:\n"
        "            del self._stock[item]\n")
    scripts = {"oracle": [call("write_file", path="inventory.py", content=solved), say("Done.")],
               "talker": [say("I added remove().")]}
    with ScriptedServer(scripts) as server:
        bench.run(server, "-k", "not in_phases", models="oracle,talker")
    outcomes = {a["model"]: a["outcome"] for a in bench.report()["attempts"]}
    assert outcomes == {"oracle": "passed", "talker": "phantom"}


def test_the_shipped_pipeline_example_passes_with_right_phases_and_catches_a_lying_review(bench):
    from tests.test_pipeline_e2e import by_phase, fenced

    source = shipped_example(bench)
    solved = source + (
        "\n    def remove(self, item: str, quantity: int = 1) -> None:\n"
        "        if quantity <= 0 or self._stock.get(item, 0) < quantity:\n"
        "            raise ValueError('not enough in stock')\n"
        "        self._stock[item] -= quantity\n")
    explore = [call("read_file", path="inventory.py"),
               say(fenced({"files_examined": ["inventory.py"], "summary": "One class, Inventory."}))]
    implement = [call("write_file", path="inventory.py", content=solved), say("Added remove().")]
    run_it = "python -c 'import inventory'"
    honest = [call("shell", command=run_it), say(fenced({"verdict": "ok", "commands_run": [run_it]}))]
    liar = [say(fenced({"verdict": "ok", "commands_run": ["python -m pytest -q"]}))]  # ran nothing
    scripts = {"oracle": by_phase({"Read the code base": explore, "explorer's map": implement,
                                   "Review the change": honest}),
               "liar": by_phase({"Read the code base": explore, "explorer's map": implement,
                                 "Review the change": liar})}
    with ScriptedServer(scripts) as server:
        bench.run(server, "-k", "in_phases", models="oracle,liar")
    attempts = {a["model"]: a for a in bench.report()["attempts"]}
    assert attempts["oracle"]["outcome"] == "passed", attempts["oracle"]["detail"]
    assert [p["name"] for p in attempts["oracle"]["phases"]] == ["explore", "implement", "review"]
    assert attempts["liar"]["outcome"] == "failed"
    assert attempts["liar"]["phases"][2]["hallucinated"] == ["python -m pytest -q"]
