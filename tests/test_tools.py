"""The file and shell tools, confined to a worktree."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pytest_agentbench.agent import tools
from pytest_agentbench.agent.tools import ToolContext, ToolError
from pytest_agentbench.sandbox.commands import command_env


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


# --- hardening: byte-safe, atomic, mode-keeping writes; confined patches ----------------------

import stat


def test_edit_file_keeps_bytes_that_are_not_utf8(ctx):
    (ctx.root / "latin.txt").write_bytes("caf\xe9 = 1\nx = 2\n".encode("latin-1"))
    tools.edit_file(ctx, "latin.txt", "x = 2", "x = 3")
    assert (ctx.root / "latin.txt").read_bytes() == b"caf\xe9 = 1\nx = 3\n"


def test_edit_file_keeps_crlf_line_endings(ctx):
    (ctx.root / "dos.txt").write_bytes(b"a\r\nb\r\n")
    tools.edit_file(ctx, "dos.txt", "b", "c")
    assert (ctx.root / "dos.txt").read_bytes() == b"a\r\nc\r\n"


def test_writes_keep_the_mode_and_new_files_follow_the_umask(ctx):
    script = ctx.root / "run.sh"
    script.write_text("#!/bin/sh\necho a\n")
    script.chmod(0o755)
    tools.edit_file(ctx, "run.sh", "echo a", "echo b")
    tools.write_file(ctx, "run.sh", "#!/bin/sh\necho c\n")
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    umask = os.umask(0o022)
    os.umask(umask)
    tools.write_file(ctx, "fresh.py", "X = 1\n")
    assert stat.S_IMODE((ctx.root / "fresh.py").stat().st_mode) == 0o666 & ~umask


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary(ctx, monkeypatch):
    (ctx.root / "keep.py").write_text("old\n")

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(tools.os, "replace", broken_replace)
    with pytest.raises(OSError):
        tools.write_file(ctx, "keep.py", "new\n")
    assert (ctx.root / "keep.py").read_text() == "old\n"
    assert not list(ctx.root.glob(".agentbench-*"))


def test_write_file_replaces_a_hard_link_instead_of_writing_through_it(ctx, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("original")
    os.link(outside, ctx.root / "linked.txt")  # same filesystem: possible without the jail
    tools.write_file(ctx, "linked.txt", "changed")
    assert outside.read_text() == "original" and (ctx.root / "linked.txt").read_text() == "changed"


def test_write_file_through_a_directory_symlink_out_of_the_worktree_is_refused(ctx, tmp_path):
    os.symlink("/etc", ctx.root / "e")
    for call in (lambda: tools.read_file(ctx, "e/passwd"), lambda: tools.write_file(ctx, "e/x", "p"),
                 lambda: tools.edit_file(ctx, "e/hostname", "a", "b"), lambda: tools.list_dir(ctx, "e")):
        with pytest.raises(ToolError, match="escapes"):
            call()
    assert tools.glob(ctx, "e/*") == "(no matches)" and tools.grep(ctx, "root") == "(no matches)"


def test_a_symlink_to_git_is_refused(ctx):
    os.symlink(".git", ctx.root / "g")
    with pytest.raises(ToolError, match=".git"):
        tools.read_file(ctx, "g")


def test_read_file_of_a_huge_text_file_is_truncated_with_a_hint(ctx):
    (ctx.root / "big.txt").write_text("line\n" * 200_000)
    text = tools.read_file(ctx, "big.txt")
    assert len(text) < tools.MAX_READ_CHARS + 200 and "use start_line/end_line" in text
    assert tools.read_file(ctx, "big.txt", start_line=199_999, end_line=200_000) == "line\nline\n"


@pytest.fixture
def git_ctx(ctx):
    subprocess.run(["git", "init", "-q"], cwd=ctx.root.parent / "wt", check=False)
    (ctx.root / ".git").unlink(missing_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=ctx.root, check=True)
    return ctx


@pytest.mark.parametrize("target", ["../escaped.txt", ".git/hooks/pre-commit", "e/escaped.txt"])
def test_apply_patch_refuses_paths_out_of_the_worktree(git_ctx, target):
    os.symlink("/tmp", git_ctx.root / "e")
    patch = f"--- /dev/null\n+++ b/{target}\n@@ -0,0 +1 @@\n+pwned\n"
    with pytest.raises(ToolError, match="does not apply"):
        tools.apply_patch(git_ctx, patch)
    assert not (git_ctx.root.parent / "escaped.txt").exists() and not Path("/tmp/escaped.txt").exists()
    assert not (git_ctx.root / ".git" / "hooks" / "pre-commit").exists()


def test_huge_files_are_refused_whole_and_skipped_by_grep(tmp_path):
    from pytest_agentbench.agent.tools import (
        IMPLEMENTATIONS,
        MAX_READ_BYTES,
        ToolContext,
        ToolError,
    )

    (tmp_path / "big.log").write_bytes(b"needle\n" * (MAX_READ_BYTES // 7 + 1))
    (tmp_path / "small.txt").write_text("needle here\n")
    ctx = ToolContext(root=tmp_path, env={}, remaining_seconds=lambda: 60)
    with pytest.raises(ToolError, match="too large to read whole"):
        IMPLEMENTATIONS["read_file"](ctx, path="big.log")
    assert IMPLEMENTATIONS["grep"](ctx, pattern="needle") == "small.txt:1:needle here"


def _resolve_as_before(ctx: ToolContext, raw: str, must_exist: bool) -> Path | str:
    """resolve_path as it was written with two Path.resolve() calls: the reference."""
    text = raw.strip() or "."
    if os.path.isabs(text) or text.startswith("~"):
        return "absolute"
    root = ctx.root.resolve()
    target = (root / text).resolve()
    if target != root and root not in target.parents:
        return "escapes"
    relative = target.relative_to(root)
    if relative.parts and relative.parts[0] == ".git":
        return ".git"
    if must_exist and not target.exists():
        return "missing"
    return target


def test_resolve_path_gives_what_two_full_resolves_gave(ctx, tmp_path):
    """The plain-path shortcut (one lstat per component below the root) and the full resolve it
    falls back to agree with the reference on every kind of path: links in and out, .., .git,
    missing parts, a file used as a directory, odd spellings."""
    (ctx.root / "pkg" / "sub").mkdir()
    os.symlink("pkg", ctx.root / "inner")  # a directory link that stays inside
    os.symlink(tmp_path, ctx.root / "outer")  # one that leaves
    os.symlink("a.py", ctx.root / "alias.py")
    os.symlink(".git", ctx.root / "gitlink")
    paths = ["a.py", "./a.py", "a.py/", "pkg//mod.py", "pkg/./sub", ".", "", "  ", "pkg/sub/../mod.py",
             "pkg/../a.py", "..", "pkg/../..", "inner/mod.py", "inner/../a.py", "outer", "outer/wt/a.py",
             "alias.py", "gitlink", ".git", "./.git", "pkg/.git", "missing.py", "missing/deeper/x.py",
             "a.py/x", "/etc/passwd", "~/x", "pkg/sub/", "ünï.py", "dir with space/f"]
    for must_exist in (False, True):
        for raw in paths:
            expected = _resolve_as_before(ctx, raw, must_exist)
            try:
                got: Path | str = tools.resolve_path(ctx, raw, must_exist=must_exist)
            except ToolError as exc:
                got = next(kind for kind, words in (("absolute", "absolute"), ("escapes", "escapes"),
                                                    ("missing", "no such"), (".git", ".git"))
                           if words in str(exc))
            assert got == expected, (raw, must_exist)
    assert ctx.real_root() == os.path.realpath(ctx.root)
    ctx.root = tmp_path  # a new root is resolved again
    assert ctx.real_root() == os.path.realpath(tmp_path)
