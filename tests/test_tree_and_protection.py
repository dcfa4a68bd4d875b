"""Unit tests: the harness's own tree reading (safe_fs, tree_diff) and the protected-path rules."""

from __future__ import annotations

import os
import subprocess
import types
from pathlib import Path

import pytest

from pytest_agentbench.attempt.protect import ProtectionRules, link_stays_inside, needed_allowances
from pytest_agentbench.trees import safe_fs
from pytest_agentbench.trees.tree_diff import apply_change, tree_change
from pytest_agentbench.trees.workspace import Baseline

CHECK = ["python -m pytest -q tests/test_x.py"]


def rules(**kwargs) -> ProtectionRules:
    defaults = {"hidden": ["tests/test_x.py"], "check_commands": CHECK,
                "baseline_paths": frozenset({"app.py", "pkg/__init__.py", "queue.py"})}
    return ProtectionRules(**{**defaults, **kwargs})


@pytest.mark.parametrize("path, reason", [
    ("conftest.py", "test or interpreter configuration"),
    ("deep/er/conftest.py", "test or interpreter configuration"),
    ("tests/pytest.ini", "test or interpreter configuration"),
    ("pyproject.toml", "test or interpreter configuration"),
    ("x.pth", "test or interpreter configuration"),
    ("sub/.gitignore", "test or interpreter configuration"),
    ("pytest.py", "shadows the module 'pytest'"),
    ("pytest/__main__.py", "shadows the module 'pytest'"),
    ("json.py", "shadows the module 'json'"),
    ("tests/test_x.py", "hidden path"),
    ("tests", "hidden path"),  # a file where the hidden tests' directory goes
    ("tests/test_x.py/inner", "hidden path"),
    ("app.py", None),
    ("queue.py", None),  # the canary's own module, not a new shadow
    ("pkg/json.py", None),  # not top level: shadows nothing
    ("test/helper.py", None),
    ("notes.md", None),
])
def test_protection_reasons(path, reason):
    assert rules().reason(path) == reason



@pytest.mark.parametrize("path, module", [
    ("httpx.py", "httpx"),  # a package installed beside pytest
    ("jsonschema/__init__.py", "jsonschema"),
    ("pytest_agentbench.py", "pytest_agentbench"),  # installed editable: its finder maps it
    ("_pytest/python.py", "_pytest"),
])
def test_a_new_module_named_like_an_installed_one_shadows_it(path, module):
    assert rules().reason(path) == f"shadows the module {module!r}"


def test_the_installed_modules_are_listed_from_site_packages(tmp_path, monkeypatch):
    """Modules, extension modules and packages (namespace ones too) count; metadata, .pth files
    and dunder entries do not."""
    from pytest_agentbench.attempt import protect

    for name in ("plain.py", "native.cpython-311-x86_64-linux-gnu.so", "thing-1.0.dist-info/RECORD",
                 "extra.pth", "__pycache__/x.pyc", "__editable___demo_finder.py", "pkg/__init__.py",
                 "nsonly/sub/mod.py", "data.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    monkeypatch.setattr(protect.site, "getsitepackages", lambda: [str(tmp_path)])
    monkeypatch.setattr(protect.site, "getusersitepackages", lambda: str(tmp_path / "missing"))
    monkeypatch.setattr(protect.sysconfig, "get_paths", lambda: {"purelib": str(tmp_path), "platlib": str(tmp_path)})
    # An editable install: a finder on sys.meta_path, its module's MAPPING names the project.
    finder_module = types.ModuleType("__editable___demo_finder")
    finder_module.MAPPING = {"demo_project": "/src/demo_project"}

    class Finder:
        pass

    Finder.__module__ = finder_module.__name__
    monkeypatch.setitem(protect.sys.modules, finder_module.__name__, finder_module)
    monkeypatch.setattr(protect.sys, "meta_path", [Finder])
    assert protect.installed_top_level() == {"plain", "native", "pkg", "nsonly", "demo_project"}


def test_expect_unchanged_cannot_be_opted_in_but_config_can():
    r = rules(expect_unchanged=["keep/*"], allow_changed=["keep/*", "pyproject.toml"])
    assert r.reason("keep/a.py") == "expect_unchanged"
    assert r.reason("pyproject.toml") is None
    assert r.reason("tests/test_x.py") == "hidden path"


def test_a_script_the_check_runs_is_protected_but_a_file_it_reads_is_not():
    r = rules(check_commands=["./run_checks.sh", "grep -q ok app.py"],
              baseline_paths=frozenset({"run_checks.sh", "app.py"}))
    assert r.reason("run_checks.sh") == "a file the checks run"
    assert r.reason("app.py") is None


@pytest.mark.parametrize("path, target, inside", [
    ("a", "b", True), ("d/a", "../b", True), ("a", "/etc/passwd", False), ("d/a", "../../x", False),
    ("a", "..", False), ("a", ".", False), ("a", "", False),
])
def test_links_out_of_the_tree(path, target, inside):
    assert link_stays_inside(path, target) is inside
    kind_reason = rules().reason(path, "link", target)
    assert (kind_reason == "link out of the tree") is (not inside)


def test_needed_allowances_for_a_reference_that_edits_configuration():
    assert needed_allowances(["setup.cfg", "app.py", "tests/test_x.py"], CHECK, ["app.py"],
                             ["tests/test_x.py"]) == ["setup.cfg"]


def make_baseline(tmp_path: Path, files: dict[str, str]) -> Baseline:
    repo = tmp_path / "repo"
    for relative, content in files.items():
        (repo / relative).parent.mkdir(parents=True, exist_ok=True)
        (repo / relative).write_text(content)
    return Baseline.build(repo, tmp_path / "baseline")


def worktree_of(baseline: Baseline, tmp_path: Path) -> Path:
    tree = tmp_path / "wt"
    subprocess.run(["git", "worktree", "add", "-q", "--detach", str(tree), baseline.commit],
                   cwd=baseline.path, check=True, capture_output=True)
    return tree


def test_the_agents_ignore_files_and_index_do_not_hide_changes(tmp_path):
    baseline = make_baseline(tmp_path, {"app.py": "x = 1\n", "tests/test_x.py": "t\n"})
    tree = worktree_of(baseline, tmp_path)
    (tree / ".gitignore").write_text("conftest.py\n.gitignore\n")
    (tree / "conftest.py").write_text("import os; os._exit(0)\n")
    subprocess.run(["git", "update-index", "--skip-worktree", "app.py"], cwd=tree, check=True)
    (tree / "app.py").write_text("x = 2\n")
    (tree / "__pycache__").mkdir()
    (tree / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    os.chmod(tree / "tests" / "test_x.py", 0o755)  # mode only: no change
    change = tree_change(tree, baseline.manifest, rules(baseline_paths=frozenset(baseline.manifest)))
    assert change.files_changed == [".gitignore", "app.py", "conftest.py"]
    assert change.protected == [".gitignore", "conftest.py"]
    assert change.applied_paths == ["app.py"]
    assert change.mode_only == ["tests/test_x.py"]


def test_only_regular_files_cross_into_the_verification_tree(tmp_path):
    baseline = make_baseline(tmp_path, {"app.py": "x = 1\n"})
    tree = worktree_of(baseline, tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    (tree / "sub").symlink_to(victim)
    (tree / "inside").symlink_to("app.py")
    (tree / "app.py").write_text("x = 2\n")
    change = tree_change(tree, baseline.manifest, rules(hidden=[], baseline_paths=frozenset(baseline.manifest)))
    # A link out of the tree is protected (tampering); one inside is left out, never applied.
    assert change.protected == ["sub"] and change.applied_paths == ["app.py"]
    assert change.ignored_paths == ["inside"]
    destination = tmp_path / "dest"
    destination.mkdir()
    (destination / "pkg").symlink_to(victim)  # a link in the way of a write is replaced, not followed
    apply_change(change, destination)
    safe_fs.write_file(destination, "pkg/hidden.py", b"secret")
    assert list(victim.iterdir()) == []
    assert not (destination / "inside").exists() and not (destination / "inside").is_symlink()
    assert (destination / "pkg" / "hidden.py").read_bytes() == b"secret"


def test_special_files_are_reported_never_opened(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    os.mkfifo(root / "fifo")
    found = safe_fs.scan_tree(root)
    assert found["fifo"].kind == "special"
    assert rules(hidden=[]).reason("fifo", "special") == "special file"


def test_deep_trees_are_bounded_and_removed_completely(tmp_path):
    root = tmp_path / "deep"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY)
    for _ in range(3000):  # deeper than PATH_MAX allows by name, and than Python's recursion
        os.mkdir("d" * 50, dir_fd=fd)
        child = os.open("d" * 50, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.mkfifo("fifo", dir_fd=fd)
    os.chmod(fd, 0o500)  # read-only directory at the bottom
    os.close(fd)
    with pytest.raises(safe_fs.TreeError, match="deeper than 128 levels"):
        safe_fs.scan_tree(root)
    assert safe_fs.remove_tree(root) is None
    assert not root.exists()
    assert safe_fs.remove_tree(root) is None  # already gone is fine


def test_a_tree_too_big_to_read_is_an_error(tmp_path):
    root = tmp_path / "big"
    root.mkdir()
    with open(root / "sparse", "wb") as handle:
        handle.truncate(64 * 2**20)  # sparse: costs nothing on disk, 64 MiB to read
    with pytest.raises(safe_fs.TreeError, match="more than 1 MiB"):
        safe_fs.scan_tree(root, limits=safe_fs.ScanLimits(max_bytes=2**20))


def test_a_pooled_tree_comes_back_exactly_at_the_baseline(tmp_path):
    from pytest_agentbench.trees.workspace import TreeManager

    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "a.py").write_text("A = 1\n")
    manager = TreeManager(tmp_path / "work")
    baseline = manager.baseline(repo, "c")
    tree = manager.acquire(baseline)
    (tree / "pkg" / "a.py").write_text("A = 2\n")
    (tree / "new.py").write_text("x")
    (tree / ".gitignore").write_text("*\n")
    (tree / "ignored.log").write_text("x")
    os.mkfifo(tree / "pipe")  # git sees neither tracked nor untracked here
    (tree / "nested").mkdir()
    subprocess.run(["git", "init", "-q"], cwd=tree / "nested", check=True)
    assert manager.release(baseline, tree, reuse=True) is None
    again = manager.acquire(baseline)
    assert again == tree
    names = sorted(str(p.relative_to(tree)) for p in tree.rglob("*") if ".git" not in p.parts)
    assert names == ["pkg", "pkg/a.py"] and (tree / "pkg" / "a.py").read_text() == "A = 1\n"
    manager.release(baseline, again, reuse=True)
    manager.close()  # the session's end removes pooled trees
    assert not tree.exists()


def test_closing_removes_every_pooled_tree_and_its_record_in_git(tmp_path):
    """Pooled trees of two purposes go at the session's end, and the baseline's git forgets them
    (one prune after the removals), so nothing refers to a tree that is gone."""
    from pytest_agentbench.trees.workspace import TreeManager

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.py").write_text("A = 1\n")
    manager = TreeManager(tmp_path / "work")
    baseline = manager.baseline(repo, "c")
    trees = [manager.acquire(baseline), manager.acquire(baseline), manager.acquire(baseline, "verify")]
    for tree, purpose in zip(trees, ["work", "work", "verify"]):
        assert manager.release(baseline, tree, reuse=True, purpose=purpose) is None

    def listed() -> list[str]:
        out = subprocess.run(["git", "worktree", "list", "--porcelain"], cwd=baseline.path,
                             capture_output=True, text=True, check=True).stdout
        return [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("worktree ")]

    assert sorted(listed()) == sorted([str(baseline.path), *map(str, trees)])
    manager.close()
    assert not any(tree.exists() for tree in trees)
    assert listed() == [str(baseline.path)]
    assert not (baseline.path / ".git" / "worktrees").exists() or not any((baseline.path / ".git" / "worktrees").iterdir())


def test_a_tree_git_cannot_reset_is_removed_not_pooled(tmp_path):
    from pytest_agentbench.trees.workspace import TreeManager

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.py").write_text("A = 1\n")
    manager = TreeManager(tmp_path / "work")
    baseline = manager.baseline(repo, "c")
    tree = manager.acquire(baseline)
    fd = os.open(tree, os.O_RDONLY)
    for _ in range(200):  # deeper than PATH_MAX: git clean fails "File name too long"
        os.mkdir("d" * 40, dir_fd=fd)
        child = os.open("d" * 40, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)
    assert manager.release(baseline, tree, reuse=True) is None
    assert not tree.exists()
    assert manager.acquire(baseline) != tree
