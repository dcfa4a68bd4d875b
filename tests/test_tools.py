"""The file and shell tools, confined to a worktree."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pytest_agentbench.agent import tools
from pytest_agentbench.agent.tools import ToolContext, ToolError
from pytest_agentbench.sandbox import command_env


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    root = tmp_path / "wt"
    root.mkdir()
    (root / "a.py").write_text("x = 1\ny = 2\nz = 3\n")
    (root / "pkg").mkdir()
    (root / "pkg" / "mod.py").write_text("def f():\n    return 'needle'\n")
    (root / ".git").write_text("gitdir: /elsewhere\n")
    return ToolContext(root=root, env=command_env(tmp_path), remaining_seconds=lambda: 60.0)


@pytest.mark.parametrize("bad", ["/etc/passwd", "../outside.txt", "pkg/../../x", "~/x", ".git", ".git/config"])
def test_paths_outside_the_worktree_or_into_git_are_rejected(ctx, bad):
    with pytest.raises(ToolError):
        tools.write_file(ctx, bad, "pwned")
    with pytest.raises(ToolError):
        tools.read_file(ctx, bad)
    assert not (ctx.root.parent / "outside.txt").exists()


def test_a_symlink_out_of_the_worktree_is_not_followed(ctx, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.symlink(secret, ctx.root / "link.txt")
    with pytest.raises(ToolError, match="escapes"):
        tools.read_file(ctx, "link.txt")
    with pytest.raises(ToolError, match="escapes"):
        tools.write_file(ctx, "link.txt", "changed")
    assert secret.read_text() == "top secret"


def test_read_file_with_line_range(ctx):
    assert tools.read_file(ctx, "a.py") == "x = 1\ny = 2\nz = 3\n"
    assert tools.read_file(ctx, "a.py", start_line=2, end_line=2) == "y = 2\n"
    with pytest.raises(ToolError, match="no such file"):
        tools.read_file(ctx, "missing.py")


def test_read_file_refuses_binary(ctx):
    (ctx.root / "blob.bin").write_bytes(b"\x00\x01\x02")
    with pytest.raises(ToolError, match="binary"):
        tools.read_file(ctx, "blob.bin")


def test_write_file_creates_parents(ctx):
    assert "Created" in tools.write_file(ctx, "new/dir/b.py", "B = 1\n")
    assert (ctx.root / "new/dir/b.py").read_text() == "B = 1\n"
    assert "Overwrote" in tools.write_file(ctx, "new/dir/b.py", "B = 2\n")


def test_edit_file_needs_exactly_one_match(ctx):
    tools.edit_file(ctx, "a.py", "y = 2", "y = 20")
    assert "y = 20" in (ctx.root / "a.py").read_text()
    (ctx.root / "dup.py").write_text("v = 0\nv = 0\n")
    with pytest.raises(ToolError, match="occurs 2 times"):
        tools.edit_file(ctx, "dup.py", "v = 0", "v = 1")
    with pytest.raises(ToolError, match="not found"):
        tools.edit_file(ctx, "a.py", "nope", "x")
    assert (ctx.root / "dup.py").read_text() == "v = 0\nv = 0\n"


def test_apply_patch_is_all_or_nothing(ctx):
    subprocess.run(["git", "init", "-q"], cwd=ctx.root.parent / "wt", check=False)
    (ctx.root / ".git").unlink()  # a plain directory is fine for git apply
    good = "--- a/a.py\n+++ b/a.py\n@@ -1,3 +1,3 @@\n x = 1\n-y = 2\n+y = 22\n z = 3\n"
    bad = good + "--- a/pkg/mod.py\n+++ b/pkg/mod.py\n@@ -1,2 +1,2 @@\n-def nothere():\n+def g():\n     return 'needle'\n"
    with pytest.raises(ToolError, match="does not apply"):
        tools.apply_patch(ctx, bad)
    assert "y = 2\n" in (ctx.root / "a.py").read_text()  # first hunk was not applied either
    assert tools.apply_patch(ctx, good) == "Patch applied"
    assert "y = 22" in (ctx.root / "a.py").read_text()


def test_list_dir_glob_grep(ctx):
    assert tools.list_dir(ctx) == "a.py\npkg/"
    assert tools.glob(ctx, "**/*.py") == "a.py\npkg/mod.py"
    assert tools.grep(ctx, "needle") == "pkg/mod.py:2:    return 'needle'"
    assert tools.grep(ctx, "absent") == "(no matches)"
    with pytest.raises(ToolError, match="invalid regular expression"):
        tools.grep(ctx, "(")


def test_shell_runs_in_the_worktree_with_a_clean_environment(ctx, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    ctx.env = command_env(ctx.root.parent)  # built after the secret exists
    output = tools.shell(ctx, "pwd; echo key=${OPENAI_API_KEY:-unset}; exit 4")
    assert output.startswith("[exit code 4]")
    assert str(ctx.root) in output and "key=unset" in output


def test_shell_timeout_kills_the_command(ctx):
    output = tools.shell(ctx, "sleep 30", timeout=0.5)
    assert output.startswith("[timed out]")


def test_shell_timeout_is_bounded_by_the_attempts_time_left(ctx):
    ctx.remaining_seconds = lambda: 1.0
    output = tools.shell(ctx, "sleep 30", timeout=100)
    assert output.startswith("[timed out]")


def test_every_tool_has_a_schema_and_an_implementation():
    assert set(tools.SCHEMAS) == set(tools.IMPLEMENTATIONS) == {
        "read_file", "write_file", "edit_file", "apply_patch", "list_dir", "glob", "grep", "shell"}
    for alias, target in tools.TOOL_ALIASES.items():
        assert target in tools.SCHEMAS, alias
