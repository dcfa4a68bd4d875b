"""Protected paths: what decides how the checks run, so the agent's change to it is never applied.

A model that cannot solve a task can still make ``python -m pytest`` report success: a
``conftest.py`` that calls ``os._exit(0)``, a ``pytest.py`` shadow (``python -m`` puts the working
directory first on ``sys.path``), ``addopts = --collect-only`` in an ini file, a ``.gitignore``
that hides the cheat, a link out of the tree. Changes to these paths are recorded
(``protected_changes``) but left out of the verification tree; an attempt that then fails and
touched one is ``tampered``. A canary opts a path back in with
``verify.allow_changed``. Hidden paths, special files, links out of the tree and
``expect_unchanged`` cannot be opted in.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import posixpath
import re
import shlex
import site
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass, field

from pytest_agentbench.attempt.writable import WritableSet

# Files that configure test runners or the interpreter, at any depth (pytest looks for its ini
# file from the test paths' common ancestor upwards, so a tests/pytest.ini counts too).
CONFIG_NAMES = (
    "conftest.py", "pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml", "tox.ini",
    "setup.cfg", "pyproject.toml", "sitecustomize.py", "usercustomize.py", "*.pth", ".gitignore",
    ".gitattributes",
    # JavaScript runners read their configuration (a testResultsProcessor that marks every test
    # passed) and transforms from these.
    "package.json", "jest.config.*", "babel.config.*", ".babelrc", ".babelrc.*", "vitest.config.*",
    "vite.config.*", ".mocharc*",
)
# A directory anywhere on the path with one of these names is configuration too: package metadata
# registers plugins (``[pytest11]`` entry points) and node_modules shadows a runner's dependencies.
CONFIG_DIRS = ("*.dist-info", "*.egg-info", "node_modules")
# A new top-level module named like one of these shadows it for `python -m ...` and for every
# import in the check process; names too common to be a project's own are left out.
_SHADOW_EXEMPT = {"test", "tests", "main", "app", "src", "lib", "docs", "build", "setup"}


@functools.lru_cache(maxsize=1)
def shadowable_modules() -> frozenset[str]:
    """Top-level modules the checks' interpreter can import: the standard library and whatever is
    installed beside pytest. Computed once per process."""
    names = set(getattr(sys, "stdlib_module_names", ()))
    names.update(installed_top_level())
    names.update({"pytest", "_pytest", "py", "pluggy"})
    return frozenset(n for n in names if n.isidentifier() and n not in _SHADOW_EXEMPT)


def installed_top_level() -> set[str]:
    """The top-level modules and packages in the site-packages directories, namespace packages
    included, and those an editable install maps with a finder. A listing of each directory, not
    ``importlib.metadata.packages_distributions()``: that reads every distribution's RECORD, 0.18 s
    in each process that verifies (every xdist worker), against 1 ms for the listing."""
    paths = sysconfig.get_paths()
    directories = {paths.get("purelib", ""), paths.get("platlib", "")}
    try:  # an old virtualenv's own site module has neither
        directories.update([*site.getsitepackages(), site.getusersitepackages()])
    except AttributeError:
        pass
    names: set[str] = set()
    for directory in directories - {""}:  # "" would list the working directory
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            stem, dot, _ = entry.name.partition(".")
            if stem.startswith("__"):  # __pycache__, an editable install's own finder module
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            # A package (a directory with no dot: not metadata), or a module: name.py, or an
            # extension module such as name.cpython-311-x86_64-linux-gnu.so.
            extension = entry.name.rpartition(".")[2] if dot else ""
            if (is_dir and not dot) or (not is_dir and extension in ("py", "so", "pyd")):
                names.add(stem)
    # setuptools' editable installs put a finder on sys.meta_path whose module maps each
    # top-level name to the project's directory.
    for finder in sys.meta_path:
        mapping = getattr(sys.modules.get(getattr(finder, "__module__", "") or ""), "MAPPING", None)
        if isinstance(mapping, dict):
            names.update(name for name in mapping if isinstance(name, str))
    return names


def check_programs(commands: Iterable[str]) -> tuple[set[str], set[str]]:
    """What the checks run: module names given to ``-m`` and each shell command's first word (the
    program: ``./run_checks.sh`` is protected, ``grep x app.py`` does not protect ``app.py``)."""
    modules: set[str] = set()
    words: set[str] = set()
    for command in commands:
        try:
            tokens = shlex.split(command)
        except ValueError:
            tokens = command.split()
        first = True
        for index, token in enumerate(tokens):
            if token in ("&&", "||", ";", "|"):
                first = True
                continue
            if token == "-m" and index + 1 < len(tokens):
                modules.add(tokens[index + 1].split(".")[0])
            if "=" in token and first and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", token):
                continue  # VAR=value before the program
            if first:
                words.add(token.removeprefix("./"))
                modules.add(posixpath.basename(token))
                first = False
    return modules, words


@dataclass
class ProtectionRules:
    hidden: list[str]  # relative paths of hidden/ files
    expect_unchanged: list[str] = field(default_factory=list)
    allow_changed: list[str] = field(default_factory=list)
    check_commands: list[str] = field(default_factory=list)
    baseline_paths: frozenset[str] = frozenset()
    writable: WritableSet = field(default_factory=lambda: WritableSet("everything"))

    def __post_init__(self) -> None:
        modules, words = check_programs(self.check_commands)
        self._shadow = set(shadowable_modules()) | {m for m in modules if m.isidentifier()}
        # Files a check names that are part of the canary (a script it runs, a test file).
        self._check_files = {w for w in words if w in self.baseline_paths or w in self.hidden}
        # A module the canary already has (its own package, installed in the venv or not) is the
        # project's, not a shadow.
        self._own_modules = {p.split("/", 1)[0].removesuffix(".py") for p in self.baseline_paths}
        self._hidden = set(self.hidden)
        self._hidden_dirs = {posixpath.dirname(p) for p in self.hidden}
        for path in list(self._hidden_dirs):
            while path:
                path = posixpath.dirname(path)
                self._hidden_dirs.add(path)
        self._hidden_dirs.discard("")

    def reason(self, path: str, kind: str = "file", target: str = "") -> str | None:
        """Why a change at ``path`` must not reach the verification tree, or None."""
        if kind == "special":
            return "special file"
        if path in self._hidden or path in self._hidden_dirs or _under_any(path, self._hidden):
            return "hidden path"
        if kind == "link" and not link_stays_inside(path, target):
            return "link out of the tree"
        if _matches(path, self.expect_unchanged):
            return "expect_unchanged"
        if _matches(path, self.allow_changed):
            return None
        name = posixpath.basename(path)
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in CONFIG_NAMES):
            return "test or interpreter configuration"
        if any(fnmatch.fnmatchcase(part, pattern) for part in path.split("/")[:-1]
               for pattern in CONFIG_DIRS):
            return "test or interpreter configuration"
        top = path.split("/", 1)[0]
        module = top.removesuffix(".py") if "/" not in path else top
        if ((path.endswith(".py") or "/" in path) and module in self._shadow
                and module not in self._own_modules):
            return f"shadows the module {module!r}"
        if path in self._check_files:
            return "a file the checks run"
        return None


def _matches(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, pattern) for pattern in patterns)


def _under_any(path: str, paths: set[str]) -> bool:
    # The agent made a directory where a hidden file goes, e.g. test_x.py/evil.
    return any(path.startswith(p + "/") for p in paths)


def link_stays_inside(path: str, target: str) -> bool:
    """Whether a link at ``path`` pointing to ``target`` resolves inside the tree, lexically
    (links to links are judged one at a time: each must stay inside)."""
    if not target or target.startswith("/"):
        return False
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    return resolved != ".." and not resolved.startswith("../") and resolved != "."


def needed_allowances(solution_paths: list[str], check_commands: list[str],
                      baseline_paths: Iterable[str], hidden: list[str]) -> list[str]:
    """The protected paths a reference solution changes that a canary may opt back in
    (``verify.allow_changed``): what ``agentbench mine`` and the Exercism import write when the
    reference needs it. Hidden paths and expect_unchanged are never among them."""
    rules = ProtectionRules(hidden=hidden, check_commands=check_commands,
                            baseline_paths=frozenset(baseline_paths))
    opt_in = {"test or interpreter configuration", "a file the checks run"}
    return sorted(p for p in solution_paths
                  if (reason := rules.reason(p)) in opt_in or (reason or "").startswith("shadows"))
