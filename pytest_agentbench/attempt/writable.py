"""The writable set: which of the agent's changes may reach the verification tree at all.

Verification is built by allowing, not by forbidding: the verification tree is the canary's
``repo/`` plus the agent's changes *inside the writable set* plus ``hidden/``. Everything else the
agent changed is recorded (``ignored_changes``) but never applied, so a file nobody thought to
forbid (a pytest plugin registered through ``*.dist-info/entry_points.txt``, a ``pytest.toml``, a
``jest.config.js``) cannot decide a verdict. The protected paths (:mod:`~pytest_agentbench.attempt.protect`)
still apply inside the set.

Where the set comes from, first match wins:

1. ``verify.writable = [globs]`` in ``canary.toml``;
2. the reference solution (``solution/``): each path it changes or adds, and *new* files with the
   same extension in each directory it touches (a model may split its code into a helper module
   beside the file it edits);
3. ``verify.expect_changed``, read the same way (a literal path also opens new files of its
   extension in its directory);

the files a judge check reads (``file:`` and ``page:`` artifacts) are added to a derived set;
4. an answer canary (``verify.answer``) with none of these: no path (its result is its answer);
5. nothing to derive it from: every path (the protected paths are then the only rule).
   ``agentbench validate`` warns about such canaries.
"""

from __future__ import annotations

import fnmatch
import glob as globlib
import posixpath
from dataclasses import dataclass, field


@dataclass(frozen=True)
class WritableSet:
    source: str  # "verify.writable" | "solution" | "expect_changed" | "answer" | "everything"
    paths: frozenset[str] = frozenset()  # exact paths that may change, be added or be deleted
    globs: tuple[str, ...] = ()  # patterns (verify.writable, expect_changed globs)
    # (directory, extension): a file that is *new* (not in the baseline) directly in that
    # directory with that extension may be added.
    new_files: frozenset[tuple[str, str]] = frozenset()
    baseline: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def everything(self) -> bool:
        return self.source == "everything"

    def allows(self, path: str) -> bool:
        if self.everything or path in self.paths:
            return True
        if any(fnmatch.fnmatch(path, pattern) for pattern in self.globs):
            return True
        if path in self.baseline:
            return False
        directory, extension = posixpath.dirname(path), posixpath.splitext(path)[1]
        return bool(extension) and (directory, extension) in self.new_files

    def describe(self) -> list[str]:
        """The set in words, one rule a line (``agentbench validate``, the report)."""
        if self.everything:
            return ["every path (no verify.writable, solution/ or expect_changed to derive it from)"]
        if self.source == "answer":
            return ["no path (the result is the final answer)"]
        lines = sorted(self.paths) + list(self.globs)
        lines += [f"new {ext} files in {directory or '.'}/" for directory, ext in sorted(self.new_files)]
        return lines


def writable_set(writable: list[str] | None, solution: list[str],
                 expect_changed: list[str], baseline: frozenset[str],
                 answer: bool = False, also: list[str] | None = None) -> WritableSet:
    """The canary's writable set (see the module's docstring for the order); ``solution``: the
    paths of the reference solution's files; ``also``: paths added to a derived set (the files
    a judge check reads)."""
    also = also or []
    if writable:
        return WritableSet("verify.writable", globs=tuple(writable), baseline=baseline)
    if solution:
        return _around("solution", [*solution, *also], (), baseline)
    if expect_changed:
        literal = [p for p in [*expect_changed, *also] if not globlib.has_magic(p)]
        patterns = tuple(p for p in expect_changed if globlib.has_magic(p))
        return _around("expect_changed", literal, patterns, baseline)
    if also:
        return _around("judge artifacts", also, (), baseline)
    return WritableSet("answer" if answer else "everything", baseline=baseline)


def _around(source: str, paths: list[str], globs: tuple[str, ...],
            baseline: frozenset[str]) -> WritableSet:
    new_files = {(posixpath.dirname(p), posixpath.splitext(p)[1]) for p in paths
                 if posixpath.splitext(p)[1]}
    return WritableSet(source, frozenset(paths), globs, frozenset(new_files), baseline)
