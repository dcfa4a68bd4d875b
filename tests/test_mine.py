"""``agentbench mine``: a canary from a real commit, validated before anything is written.
Repositories are built in tmp_path with the harness's own hardened git."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_agentbench.cli import main
from pytest_agentbench.library.mine import (
    MinedCanary,
    MineError,
    is_test_path,
    mine_commit,
    write_canary,
)
from pytest_agentbench.library.validate import validate_canary
from pytest_agentbench.schemas.canary import load_canary
from pytest_agentbench.trees.workspace import git

OPS_V1 = "def add(a, b):\n    return a + b\n"
OPS_V2 = OPS_V1 + "\n\ndef clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n"
TEST_V1 = "from calc.ops import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
TEST_V2 = TEST_V1.replace("import add", "import add, clamp") + (
    "\n\ndef test_clamp():\n    assert clamp(5, 0, 3) == 3\n    assert clamp(-1, 0, 3) == 0\n")
MESSAGE = 'Add clamp(x, lo, hi) to calc.ops\n\nLimit x to [lo, hi]; "quotes" and \\ survive.\n'


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir()
        git("init", "-q", "-b", "main", cwd=path)

    def commit(self, message: str, files: dict[str, str | bytes | None]) -> str:
        for relative, content in files.items():
            target = self.path / relative
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content if isinstance(content, bytes) else content.encode())
        git("add", "-A", cwd=self.path)
        git("commit", "-q", "--no-gpg-sign", "-m", message, cwd=self.path)
        return git("rev-parse", "HEAD", cwd=self.path).strip()


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "calc-project")
    repo.commit("init", {"calc/__init__.py": "", "calc/ops.py": OPS_V1, "tests/test_ops.py": TEST_V1,
                         "README.md": "calc\n"})
    return repo


def test_test_files_are_recognised() -> None:
    tests = ["test_x.py", "pkg/x_test.py", "tests/helpers.py", "a/test/data.json", "conftest.py",
             "x_test.go", "web/a.test.ts", "web/a.spec.js", "web/b.test.tsx"]
    code = ["x.py", "testing.py", "pkg/contest.py", "latest/x.py", "web/a.ts", "tests.py"]
    assert [p for p in tests if not is_test_path(p)] == []
    assert [p for p in code if is_test_path(p)] == []


def test_mine_a_fix_commit(repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fix = repo.commit(MESSAGE, {"calc/ops.py": OPS_V2, "tests/test_ops.py": TEST_V2})
    # The working copy is not what gets mined: only git objects are.
    (repo.path / "calc" / "ops.py").write_text("garbage\n")
    out = tmp_path / "out" / "clamp"
    assert main(["mine", str(repo.path), fix[:10], "--out", str(out), "--id", "clamp"]) == 0
    stdout = capsys.readouterr().out
    assert f"mined clamp (lite) from {fix[:12]} -> {out}" in stdout

    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["canary.toml", "hidden/tests/test_ops.py", "repo/README.md", "repo/calc/__init__.py",
                     "repo/calc/ops.py", "repo/tests/test_ops.py", "solution/calc/ops.py"]
    assert (out / "repo/calc/ops.py").read_text() == OPS_V1  # the parent's version
    assert (out / "repo/tests/test_ops.py").read_text() == TEST_V1
    assert (out / "hidden/tests/test_ops.py").read_text() == TEST_V2
    assert (out / "solution/calc/ops.py").read_text() == OPS_V2
    canary = load_canary(out / "canary.toml")
    assert (canary.id, canary.tier, canary.tags) == ("clamp", "lite", ["mined"])
    assert canary.prompt == MESSAGE
    assert canary.verify.run == ["python -m pytest -q tests/test_ops.py"]
    assert canary.verify.expect_changed == ["calc/ops.py"]
    assert fix in (out / "canary.toml").read_text()  # provenance comment
    # Written only after validate_canary(require_solution=True) accepted it.
    assert "(null control fails, reference passes)" in stdout

    # An existing directory is kept unless --force (a usage error, before any work).
    assert main(["mine", str(repo.path), fix, "--out", str(out)]) == 2
    assert "exists (pass --force" in capsys.readouterr().err
    (out / "extra.txt").write_text("old")
    prompt_file = tmp_path / "prompt.md"
    prompt_file.write_text("Add clamp.\n")
    check = "grep -q 'def clamp' calc/ops.py"  # cheaper than pytest; --check replaces the default
    assert main(["mine", str(repo.path), fix, "--out", str(out), "--force", "--sandbox", "process",
                 "--prompt-file", str(prompt_file), "--tier", "medium", "--check", check]) == 0
    assert not (out / "extra.txt").exists()
    again = load_canary(out / "canary.toml")
    assert (again.prompt, again.tier, again.id) == ("Add clamp.\n", "medium", f"calc-project-{fix[:8]}")
    assert again.verify.run == [check]


def test_a_commit_whose_tests_pass_at_the_parent_is_refused(
        repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A refactor plus a test of behaviour the parent already has: the test cannot tell.
    refactor = repo.commit("Refactor add", {
        "calc/ops.py": "def add(a, b):\n    total = a + b\n    return total\n",
        "tests/test_more.py": "from calc.ops import add\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n",
    })
    out = tmp_path / "out"
    assert main(["mine", str(repo.path), refactor, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "refused" in err and "null control: the untouched repo passes the checks" in err
    assert "already pass at its parent" in err
    assert not out.exists()


def test_a_fix_whose_own_code_fails_its_tests_is_refused(
        repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = repo.commit("Add clamp (wrong)", {
        "calc/ops.py": OPS_V2.replace("max(lo, min(x, hi))", "x"), "tests/test_ops.py": TEST_V2})
    check = "python -c 'from calc.ops import clamp; assert clamp(5, 0, 3) == 3'"
    assert main(["mine", str(repo.path), broken, "--out", str(tmp_path / "out"), "--check", check]) == 1
    err = capsys.readouterr().err
    assert "null control fails, reference FAILS" in err
    assert f"reference: check `{check}` exited 1" in err and "AssertionError" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case, reason", [
    ("root", "is a root commit"),
    ("merge", "is a merge"),
    ("delete", "deletes or renames non-test files ['README.md']"),
    ("rename", "deletes or renames non-test files ['calc/ops.py']"),
    ("tests-only", "changes no non-test file"),
    ("no-tests", "changes no test file: pass --check"),
    ("go", "are not Python: pass --check"),
    ("binary", "binary files ['calc/table.bin']"),
    ("not-a-commit", "is not a commit"),
])
def test_commits_that_make_no_canary(repo: Repo, case: str, reason: str) -> None:
    if case == "root":
        commit = git("rev-list", "--max-parents=0", "HEAD", cwd=repo.path).strip()
    elif case == "merge":
        git("checkout", "-q", "-b", "side", cwd=repo.path)
        repo.commit("side", {"side.py": "x = 1\n"})
        git("checkout", "-q", "main", cwd=repo.path)
        repo.commit("main", {"main.py": "y = 1\n"})
        git("merge", "-q", "--no-edit", "--no-gpg-sign", "side", cwd=repo.path)
        commit = "HEAD"
    elif case == "delete":
        commit = repo.commit("drop readme", {"README.md": None, "tests/test_ops.py": TEST_V2,
                                             "calc/ops.py": OPS_V2})
    elif case == "rename":
        commit = repo.commit("move", {"calc/ops.py": None, "calc/maths.py": OPS_V1,
                                      "tests/test_ops.py": TEST_V1.replace("calc.ops", "calc.maths")})
    elif case == "tests-only":
        commit = repo.commit("more tests", {"tests/test_ops.py": TEST_V1 + "\n# more\n"})
    elif case == "no-tests":
        commit = repo.commit("code only", {"calc/ops.py": OPS_V2})
    elif case == "go":
        commit = repo.commit("go", {"calc/ops.go": "package calc\n", "calc/ops_test.go": "package calc\n"})
    elif case == "binary":
        commit = repo.commit("bin", {"calc/table.bin": b"\x00\x01\x02", "tests/test_ops.py": TEST_V2})
    else:
        commit = "no-such-ref"
    with pytest.raises(MineError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        mine_commit(repo.path, commit)


def test_check_commands_replace_the_default(repo: Repo, tmp_path: Path) -> None:
    commit = repo.commit("go", {"calc/ops.go": "package calc\nfunc Clamp() {}\n",
                                "calc/ops_test.go": "package calc\n"})
    mined = mine_commit(repo.path, commit, checks=["grep -q Clamp calc/ops.go"])
    assert mined.run == ["grep -q Clamp calc/ops.go"]
    assert list(mined.hidden) == ["calc/ops_test.go"] and list(mined.solution) == ["calc/ops.go"]
    toml = write_canary(mined, tmp_path / "go-canary")
    assert validate_canary(toml, require_solution=True).ok


def test_the_toml_writer_round_trips_a_hostile_prompt(tmp_path: Path) -> None:
    prompt = ('Fix """it""" now\\\n\ttabs, a quote at the end"\r\nCRLF, \x00 NUL, \x7f DEL, '
              "é ü 中文, '''single''', trailing backslash \\\n")
    odd = "src/we[ir]d *name?.py"
    mined = MinedCanary(id="hostile", tier="lite", prompt=prompt, commit="c" * 40, parent="p" * 40,
                        run=['python -m pytest -q "tests/test \\"x\\".py"'], expect_changed=[odd],
                        repo={"a.py": (b"", False)}, hidden={}, solution={"a.py": (b"x = 1\n", True)})
    canary = load_canary(write_canary(mined, tmp_path / "hostile"))
    assert canary.prompt == prompt
    assert canary.verify.run == mined.run and canary.verify.expect_changed == [odd]
    assert (tmp_path / "hostile/solution/a.py").stat().st_mode & 0o111
