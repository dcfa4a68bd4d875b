"""The tools offered only on request (agent/extra_tools.py): what each does, that a tools list
accepts them by name and alias, that scripted models using them pass a canary that lists them, and
that the per-tool statistics count them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_agentbench.agent import extra_tools, tools
from pytest_agentbench.agent.tools import (
    DEFAULT_TOOLS,
    MAX_READ_CHARS,
    OPT_IN_TOOLS,
    ToolContext,
    ToolError,
    builtin_tools,
    tool_list,
)
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE, agent_requests, canary_toml

WRITE_HELLO = call("write_file", path="hello.py", content=HELLO_SOURCE)


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    root = tmp_path / "wt"
    root.mkdir()
    (root / "a.py").write_text("A = 1\nB = 2\n")
    (root / "b.py").write_text("C = 3\n")
    return ToolContext(root=root, env={})


def test_the_default_set_is_unchanged_and_every_opt_in_tool_has_a_schema():
    assert DEFAULT_TOOLS == ("read_file", "write_file", "edit_file", "apply_patch", "list_dir",
                             "glob", "grep", "shell")
    assert OPT_IN_TOOLS == {"batch_read", "think", "plan_solution", "ask_questions", "escalate",
                            "ask_agent"}
    tools = builtin_tools()
    for name in OPT_IN_TOOLS:
        assert tools[name].parameters["type"] == "object" and tools[name].description


def test_tools_lists_take_the_opt_in_tools_by_name_and_alias():
    assert tool_list(["read_files", "read_multiple", "reasoning", "get_plan", "ask_questions",
                      "defer", "hand_back", "ask_agent"]) == [
        "batch_read", "think", "plan_solution", "ask_questions", "escalate", "ask_agent"]
    with pytest.raises(ValueError, match="offered only when a tools list names them: ask_agent, "
                                         r"ask_questions, batch_read \(read_files, read_multiple\)"):
        tool_list(["thinking_hard"])


def test_batch_read_gives_each_file_under_a_header_and_errors_in_place(ctx):
    text = tools.batch_read(ctx, ["a.py", "missing.py", "b.py"])
    assert text == ("==> a.py <==\nA = 1\nB = 2\n\n\n==> missing.py <==\nError: no such file or "
                    "directory: 'missing.py'\n\n==> b.py <==\nC = 3\n")
    assert tools.batch_read(ctx, ["a.py"], start_line=2) == "==> a.py <==\nB = 2\n"
    with pytest.raises(ToolError, match="no file could be read"):
        tools.batch_read(ctx, ["../x", ".git/config"])


def test_batch_read_is_bounded_like_one_read_file(ctx):
    for name in ("big1.txt", "big2.txt", "big3.txt"):
        (ctx.root / name).write_text("x" * (MAX_READ_CHARS // 2 + 10))
    text = tools.batch_read(ctx, ["big1.txt", "big2.txt", "big3.txt"])
    assert len(text) < MAX_READ_CHARS + 500
    assert "[truncated: the output limit was reached]" in text
    assert text.endswith("reached: big3.txt; read them in another call]")


def test_think_plan_and_questions_change_nothing_and_say_what_happens_next(ctx):
    assert extra_tools.think(ctx, "hmm") == "ok"
    assert extra_tools.plan_solution(ctx, "1. read\n2. fix\n") == (
        "Plan recorded (2 lines). Carry it out now.")
    reply = extra_tools.ask_questions(ctx, ["Which file?", " What returns? "])
    assert reply.startswith("Recorded. No one else will answer these: answer each one yourself")
    assert reply.endswith("\n1. Which file?\n2. What returns?")
    assert sorted(p.name for p in ctx.root.iterdir()) == ["a.py", "b.py"]


def test_scripted_models_using_each_tool_pass_and_the_stats_count_them(bench):
    bench.canary(repo={"README.md": "# demo\n", "notes.txt": "say hi\n"}, toml=canary_toml(
        extra='tools = ["read_files", "reasoning", "get_plan", "ask_questions", "write_file"]'))
    script = [
        call("read_multiple", paths=["README.md", "notes.txt"]),
        call("think", thought="hello.py does not exist yet."),
        call("plan_solution", plan="1. write hello.py\n2. finish"),
        call("ask_questions", questions=["What must hello() return?"]),
        say("It must return 'hi'.", tool_calls=WRITE_HELLO["tool_calls"]),
        say("Done."),
    ]
    with ScriptedServer(script) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "passed", attempt["detail"]
    assert attempt["tool_stats"] == {name: {"calls": 1, "errors": 0} for name in (
        "ask_questions", "batch_read", "plan_solution", "think", "write_file")}
    requests = agent_requests(server)
    assert [t["function"]["name"] for t in requests[0]["tools"]] == [
        "batch_read", "think", "plan_solution", "ask_questions", "write_file"]
    results = [m["content"] for m in requests[-1]["messages"] if m["role"] == "tool"]
    assert results[0] == "==> README.md <==\n# demo\n\n\n==> notes.txt <==\nsay hi\n"
    assert results[1] == "ok" and results[2].startswith("Plan recorded (2 lines)")
    assert results[3].endswith("1. What must hello() return?")


def test_a_schema_violation_of_an_opt_in_tool_is_malformed(bench):
    bench.canary(toml=canary_toml(extra='tools = ["think", "write_file"]'))
    with ScriptedServer([call("think", thought=""), WRITE_HELLO, say("Done.")]) as server:
        bench.run(server)
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "passed" and attempt["malformed_tool_calls"] == 1
    assert attempt["tool_stats"]["think"] == {"calls": 1, "errors": 1}
