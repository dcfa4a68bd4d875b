"""API keys held in memory, not in the process environment, while model-written commands run.

A command in the ``none`` tier runs as you: it could read the harness's environment through
``/proc/<pid>/environ`` or inherit it. So each key named by ``api_key_env`` is read once, kept here
and removed from ``os.environ`` of the process that runs attempts; and in the ``none`` tier the
process is marked non-dumpable, which makes its ``/proc/<pid>/environ`` and memory unreadable to
other processes of the same (non-root) user. Root can still read them: see the docs (verdicts.md, "Sandbox and limits").
"""

from __future__ import annotations

import ctypes
import os

_KEYS: dict[str, str | None] = {}
PR_SET_DUMPABLE = 4


def secret(name: str) -> str | None:
    """The value of environment variable ``name``, taken out of ``os.environ`` on first use."""
    if name not in _KEYS:
        _KEYS[name] = os.environ.pop(name, None)
    return _KEYS[name]


def hide(names: list[str]) -> None:
    """Take every named key out of the environment now (before the first command runs)."""
    for name in names:
        secret(name)


def make_undumpable() -> bool:
    """Mark this process non-dumpable (Linux ``prctl``); False where that is not possible."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
