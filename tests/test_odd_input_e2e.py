"""Odd input is the model's, not the harness's.

A lone surrogate (``"\\ud800"``: the JSON escape is valid syntax, the code point is no text in any
encoding) in anything the model sends — its message, its reasoning, a tool call's arguments, a
file path — is recorded escaped in the transcript, the JSON and HTML reports and the results
database, and never makes the attempt an ``infra_error``: a path or a command it cannot use is a
tool error the model reads.

A work directory or a TMPDIR with spaces in its path works, in both sandbox tiers, for a pytest
check and for a check that names ``$AGENTBENCH_TEST_REPORT``.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_agentbench.sandbox.commands import bubblewrap_problem
from pytest_agentbench.testing import ScriptedServer, call, calls, say, tool_call
from tests.conftest import HELLO_SOURCE, agent_requests, canary_toml

TIERS = [pytest.param("bubblewrap", marks=pytest.mark.skipif(
    bool(bubblewrap_problem()), reason=f"no bubblewrap: {bubblewrap_problem()}")), "none"]
LONE = "\ud800"
ESCAPED = "\\ud800"  # how JSON writes it

ODD_SCRIPT = [
    {"content": f"Let me start {LONE}.", "reasoning_content": f"thinking {LONE} hard",
     "tool_calls": [tool_call("write_file", {"path": f"bad{LONE}.py", "content": "X = 1\n"})]},
    calls(tool_call("write_file", {"path": "notes.txt", "content": "odd text\n"}),
          tool_call("write_file", {"path": "more.txt", "content": f"odd {LONE} text\n"}),
          tool_call("edit_file", {"path": "notes.txt", "old": "odd", "new": f"new {LONE}"}),
          tool_call("read_file", {"path": f"dir{LONE}/x.py"}),
          tool_call("list_dir", {"path": LONE}),
          tool_call("shell", {"command": f"echo {LONE}; ls"}),
          tool_call("apply_patch", {"patch": f"--- a/notes.txt\n+++ b/notes.txt\n@@ -1 +1 @@\n-odd text\n+{LONE}\n"}),
          tool_call("grep", {"pattern": LONE}),
          tool_call("glob", {"pattern": f"*{LONE}*"}),
          content=f"more {LONE}"),
    # U+DC80..U+DCFF stand for bytes that are not UTF-8: a file name of such bytes is a name.
    calls(tool_call("write_file", {"path": "hello.py", "content": HELLO_SOURCE}),
          tool_call("write_file", {"path": "latin\udce9.txt", "content": "caf\udce9\n"})),
    say(f"Done {LONE}."),
]
REFUSED = "holds a lone surrogate (\\ud800"


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("tier", TIERS)
def test_a_lone_surrogate_from_the_model_is_its_own_and_recorded_escaped(bench, tier):
    bench.canary()
    with ScriptedServer(ODD_SCRIPT) as server:
        result = bench.run(server, "--agentbench-sandbox", tier, "--agentbench-html", "report.html",
                           "--agentbench-db", "results.sqlite")
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "passed", attempt["detail"]
    result.assert_outcomes(passed=1)

    # What the model sent went back to it as it was sent (the JSON escape); each call it could
    # not make was a tool error it read, and the rest ran.
    requests = agent_requests(server)
    assert len(requests) == 4
    history = requests[-1]["messages"]
    assert history[2]["content"] == f"Let me start {LONE}."
    results = [m["content"] for m in history if m["role"] == "tool"]
    assert [REFUSED in r for r in results] == [True, False, True, True, True, True, True, True,
                                               False, False, False, False]
    assert results[1].startswith("Created notes.txt") and results[-1].startswith("Created latin\udce9.txt")
    assert (bench.pytester.path / "canaries").exists()
    assert attempt["files_changed"] == ["hello.py", "latin\\udce9.txt", "notes.txt"]

    # Every record is UTF-8 and holds the escape.
    transcript = Path(attempt["transcript"])
    assert ESCAPED.encode() in transcript.read_bytes()
    turns = [e for e in lines_of(transcript) if e["event"] == "turn"]
    assert turns[0]["response"]["reasoning"] == f"thinking {LONE} hard"
    assert turns[0]["response"]["content"] == f"Let me start {LONE}."
    assert json.loads(turns[0]["response"]["tool_calls"][0]["arguments"])["path"] == f"bad{LONE}.py"
    assert attempt["last_reply"] == f"Done {ESCAPED}."
    html = (bench.pytester.path / "report.html").read_text(encoding="utf-8")
    assert f"Let me start {ESCAPED}." in html
    with sqlite3.connect(bench.pytester.path / "results.sqlite") as db:
        [(data,)] = db.execute("SELECT data FROM attempts").fetchall()
    assert json.loads(data)["last_reply"] == f"Done {ESCAPED}."


def test_a_failed_attempt_shows_the_models_lone_surrogate_escaped(bench):
    bench.canary()
    with ScriptedServer([say(f"I give up {LONE}.")]) as server:
        result = bench.run(server, "--agentbench-db", "results.sqlite", subprocess=True)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*last reply: I give up {ESCAPED}.*"])
    assert bench.report()["attempts"][0]["outcome"] == "phantom"


def test_a_lone_surrogate_crosses_from_an_xdist_worker(bench):
    bench.canary()
    with ScriptedServer(ODD_SCRIPT) as server:
        result = bench.run(server, "-n", "2", "--agentbench-db", "results.sqlite")
    result.assert_outcomes(passed=1)
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "passed", attempt["detail"]
    assert attempt["last_reply"] == f"Done {ESCAPED}."


@pytest.mark.parametrize("tier", TIERS)
def test_an_answer_with_a_lone_surrogate_is_checked_as_the_model_gave_it(bench, tier):
    """An answer canary's checks read the final message from a file: the lone surrogate is
    written there as its escape, and a wrong answer is the model's failure."""
    check = ("python -c \"import os, sys; answer = open(os.environ['AGENTBENCH_ANSWER']).read(); "
             "sys.exit(0 if answer.strip() == 'Oslo' else 1)\"")
    toml = canary_toml(prompt="Which city?", run=[check], expect_changed=[]).replace(
        "[verify]", "[verify]\nanswer = true")
    bench.canary(toml=toml)
    with ScriptedServer({"odd": [say(f"Oslo {LONE}")], "good": [say("Oslo")]}) as server:
        bench.run(server, "--agentbench-sandbox", tier, models="odd,good")
    by_model = {a["model"]: a for a in bench.report()["attempts"]}
    assert by_model["good"]["outcome"] == "passed", by_model["good"]["detail"]
    assert by_model["odd"]["outcome"] == "failed", by_model["odd"]["detail"]


def test_a_request_hook_and_a_lone_surrogate(bench):
    """With a request hook the body is encoded whole, by the client: the same escape."""
    bench.pytester.makeconftest("def pytest_agentbench_request(body, attempt):\n    body['user'] = 'x'\n")
    bench.canary()
    with ScriptedServer(ODD_SCRIPT) as server:
        bench.run(server)
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "passed", attempt["detail"]
    assert agent_requests(server)[-1]["messages"][2]["content"] == f"Let me start {LONE}."


@pytest.mark.parametrize("tier", TIERS)
def test_a_registry_agent_and_a_lone_surrogate(bench, tier):
    """Through the recording proxy to an agent program: what the program makes of it is the
    agent's business; the harness records it escaped and verifies the tree as always."""
    from tests.test_agents_e2e import REGISTRY

    (bench.pytester.path / "agentbench.toml").write_text(REGISTRY)
    bench.canary()
    script = [{"content": f"Writing {LONE}", "reasoning_content": LONE,
               "tool_calls": [tool_call("write_file", {"path": "hello.py", "content": HELLO_SOURCE})]},
              say(f"Done {LONE}.")]
    with ScriptedServer(script) as server:
        bench.run(server, "--agentbench-agent", "tiny", "--agentbench-sandbox", tier)
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "passed", attempt["detail"]
    assert ESCAPED.encode() in Path(attempt["transcript"]).read_bytes()


# -- paths with spaces ---------------------------------------------------------------------------

HIDDEN_PYTEST = "import hello\n\n\ndef test_hello():\n    assert hello.hello() == 'hi'\n"
# A runner of its own that writes a JUnit report where the harness says (quoted, as the canary's
# author must quote a path).
HIDDEN_RUNNER = """\
import sys
try:
    import hello
    ok = hello.hello() == 'hi'
except Exception:
    ok = False
failure = '' if ok else '<failure message="hello() is wrong"/>'
with open(sys.argv[1], 'w') as report:
    report.write(f'<testsuite><testcase classname="own" name="hello">{failure}</testcase></testsuite>')
sys.exit(0 if ok else 1)
"""
SPACED_CHECKS = ["python -m pytest -q test_hidden_hello.py",
                 'python own_runner.py "$AGENTBENCH_TEST_REPORT"']
WRONG = call("write_file", path="hello.py", content="def hello():\n    return 'bye'\n")


def spaced_run(bench, tier: str, *args: str) -> dict[str, dict]:
    bench.canary(toml=canary_toml(run=SPACED_CHECKS),
                 hidden={"test_hidden_hello.py": HIDDEN_PYTEST, "own_runner.py": HIDDEN_RUNNER})
    scripts = {"right": [call("write_file", path="hello.py", content=HELLO_SOURCE), say("Done.")],
               "wrong": [WRONG, say("Done.")]}
    with ScriptedServer(scripts) as server:
        bench.run(server, "--agentbench-sandbox", tier, *args, models="right,wrong")
    return {a["model"]: a for a in bench.report()["attempts"]}


def worktree_of(attempt: dict) -> Path:
    return Path(lines_of(Path(attempt["transcript"]))[0]["worktree"])


def assert_spaced_outcomes(by_model: dict[str, dict]) -> None:
    right, wrong = by_model["right"], by_model["wrong"]
    assert right["outcome"] == "passed", right["detail"]
    assert right["tests_passed"] == 2  # one from each check's report
    assert wrong["outcome"] == "failed", wrong["detail"]
    assert "the test report shows 1 failed" in wrong["detail"], wrong["detail"]


@pytest.fixture
def spaced(tmp_path_factory) -> Iterator[Path]:
    """A directory with spaces in its path, short: a jailed agent's proxy socket goes in TMPDIR,
    and a socket's path has room for 107 bytes only."""
    path = Path(tempfile.mkdtemp(prefix="agentbench dir ", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("tier", TIERS)
def test_a_work_directory_with_spaces(bench, tier, spaced):
    by_model = spaced_run(bench, tier, f"--agentbench-workdir={spaced}")
    assert_spaced_outcomes(by_model)
    assert worktree_of(by_model["right"]).is_relative_to(spaced)


@pytest.mark.parametrize("tier", TIERS)
def test_a_tmpdir_with_spaces(bench, tier, spaced, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(spaced))
    monkeypatch.setattr("tempfile.tempdir", None)  # gettempdir() caches its first answer
    by_model = spaced_run(bench, tier)
    assert_spaced_outcomes(by_model)
    assert worktree_of(by_model["right"]).is_relative_to(spaced)


@pytest.mark.parametrize("tier", TIERS)
def test_a_registry_agent_in_directories_with_spaces(bench, tier, spaced, monkeypatch):
    from tests.test_agents_e2e import REGISTRY

    (bench.pytester.path / "agentbench.toml").write_text(REGISTRY)
    (spaced / "tmp dir").mkdir()
    (spaced / "work dir").mkdir()
    monkeypatch.setenv("TMPDIR", str(spaced / "tmp dir"))
    monkeypatch.setattr("tempfile.tempdir", None)
    by_model = spaced_run(bench, tier, "--agentbench-agent", "tiny",
                          f"--agentbench-workdir={spaced / 'work dir'}")
    assert_spaced_outcomes(by_model)
