"""How the harness configures a pytest check, so that nothing in the tree configures it.

A pytest run reads its configuration from the first ``pytest.toml``/``pytest.ini``/
``pyproject.toml``/``tox.ini``/``setup.cfg`` it finds, loads every installed plugin's entry point
(and a ``*.dist-info`` in the working directory is an installed distribution to it), and under
``python -m pytest`` imports from the working directory first. Each of those lets files in the
tree decide a verdict. So every pytest check runs with:

- ``-c <harness file> --rootdir <tree> --confcutdir <tree>``: the configuration is the canary's
  own (its root config file from ``repo/`` or ``hidden/``, copied by the harness before the
  agent's change is applied), or an empty one; no file of the tree is searched for another;
- ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1`` and ``-p NAME`` for each plugin the canary names
  (``verify.pytest_plugins``): no entry point registers a plugin;
- ``PYTHONSAFEPATH=1`` (``python -P``): the working directory is not on ``sys.path`` while pytest
  and its plugins are imported. A harness module loaded with ``-p`` then appends it (the tree's
  own modules stay importable, after everything installed) and clears ``PYTHONSAFEPATH`` so the
  tests' own subprocesses start as usual;
- ``PYTHONNOUSERSITE=1``: no ``usercustomize`` from a home directory.

The canary's ``conftest.py`` files are still loaded: they are the canary's (a change the agent
makes to one is never applied, see attempt/protect.py).
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from pytest_agentbench.trees import safe_fs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

HARNESS_CONFIG = ".agentbench-pytest"  # the tree's ".agentbench-*" names are never the agent's
GUARD_MODULE = "agentbench_check_guard"
# Pytest's own search order for a directory's configuration file.
CONFIG_FILES = ("pytest.toml", ".pytest.toml", "pytest.ini", ".pytest.ini", "pyproject.toml",
                "tox.ini", "setup.cfg")
_GUARD_SOURCE = '''\
"""Loaded by pytest-agentbench into a pytest check (-p): pytest itself is imported by now."""
import os
import sys

os.environ.pop("PYTHONSAFEPATH", None)
_cwd = os.getcwd()
if _cwd not in sys.path:
    sys.path.append(_cwd)
'''


def canary_config(tree: Path) -> tuple[str, bytes]:
    """The canary's own root pytest configuration in ``tree`` (read before the agent's change is
    applied; hidden files included), as pytest would choose it: (suffix, content). None found:
    an empty ini file."""
    for name in CONFIG_FILES:
        path = tree / name
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if _holds_pytest_config(name, data):
            return Path(name).suffix, data
    return ".ini", b"[pytest]\n"


def _holds_pytest_config(name: str, data: bytes) -> bool:
    if name in ("pytest.toml", ".pytest.toml", "pytest.ini", ".pytest.ini"):
        return True  # pytest's dedicated files count even when empty
    text = data.decode("utf-8", "replace")
    if name == "pyproject.toml":
        try:
            return "pytest" in tomllib.loads(text).get("tool", {})
        except tomllib.TOMLDecodeError:
            return False
    section = "pytest" if name == "tox.ini" else "tool:pytest"
    return re.search(rf"^\[{re.escape(section)}\]", text, re.MULTILINE) is not None


def write_guard(directory: Path) -> Path:
    """The harness module every pytest check loads with ``-p``; returns its directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{GUARD_MODULE}.py").write_text(_GUARD_SOURCE, encoding="utf-8")
    return directory


def pytest_check_env(tree: Path, config: tuple[str, bytes], guard_dir: Path,
                     plugins: list[str], addopts: str) -> dict[str, str]:
    """The environment a pytest check runs with; writes the harness configuration file into
    ``tree`` (again before every check: an earlier check's code may have changed it)."""
    suffix, data = config
    name = f"{HARNESS_CONFIG}{suffix}"
    safe_fs.write_file(tree, name, data)  # whatever an earlier check left there is replaced
    path = tree / name
    options = ["-c", str(path), "--rootdir", str(tree), "--confcutdir", str(tree),
               "-p", GUARD_MODULE]
    for plugin in plugins:
        options += ["-p", plugin]
    return {"PYTEST_ADDOPTS": f"{addopts} {shlex.join(options)}",
            "PYTHONSAFEPATH": "1", "PYTHONPATH": str(guard_dir)}


def runner_env() -> dict[str, str]:
    """What every check gets, pytest or not: no plugin autoload, no user site."""
    return {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONNOUSERSITE": "1"}
