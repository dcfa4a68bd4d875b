"""What the agent changed, read from its tree by the harness itself — never through git's index.

``git add -A`` in the agent's worktree let the agent steer its own diff (its ``.gitignore``,
``info/exclude``, index flags such as skip-worktree) and let a config or attributes file run code
on the host. Here the tree is walked with :mod:`~pytest_agentbench.trees.safe_fs` (no link followed, no
special file opened, bounded) and compared with the baseline commit's blob ids. The only things
left out are the harness's own noise list (:data:`NOISE`), documented in docs/verdicts.md.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from pytest_agentbench.attempt.protect import ProtectionRules
from pytest_agentbench.trees import safe_fs
from pytest_agentbench.trees.safe_fs import Entry, ScanLimits
from pytest_agentbench.trees.workspace import baseline_blobs

# Files that running code and tests create; never a change the agent made, never applied.
NOISE_DIRS = ("__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".git", ".hypothesis")
NOISE_FILES = ("*.pyc", "*.pyo", ".agentbench-*", ".coverage")
NOISE_SUFFIX_DIRS = (".egg-info",)
DEFAULT_LIMITS = ScanLimits()
NUMSTAT_MAX_BYTES = 1 << 20  # files bigger than this count as binary in insertions/deletions


def is_noise(relative: str, is_dir: bool) -> bool:
    name = posixpath.basename(relative)
    if is_dir:
        return name in NOISE_DIRS or name.endswith(NOISE_SUFFIX_DIRS)
    return relative == ".git" or any(fnmatch.fnmatchcase(name, p) for p in NOISE_FILES)


@dataclass
class Change:
    path: str
    status: str  # added | modified | deleted
    entry: Entry | None  # None when deleted
    protected: str | None = None  # why the change is not applied to the verification tree
    # Outside the canary's writable set (attempt/writable.py): not applied, but no tampering either.
    ignored: bool = False


@dataclass
class TreeChange:
    changes: list[Change] = field(default_factory=list)
    mode_only: list[str] = field(default_factory=list)  # executable bit flipped, content the same
    insertions: int = 0
    deletions: int = 0

    @property
    def files_changed(self) -> list[str]:
        return sorted(c.path for c in self.changes)

    @property
    def applied(self) -> list[Change]:
        return [c for c in self.changes if c.protected is None and not c.ignored]

    def beyond_writable_set(self) -> TreeChange:
        """This change with every unprotected regular file applied, inside the writable set or
        not (a pipeline's regression gate: what a phase broke anywhere)."""
        def widened(c: Change) -> Change:
            regular = c.entry is None or c.entry.kind == "file"
            return dataclasses.replace(c, ignored=c.ignored and not regular)

        return dataclasses.replace(self, changes=[widened(c) for c in self.changes])

    @property
    def ignored_paths(self) -> list[str]:
        """Changes outside the writable set: recorded, never applied."""
        return sorted(c.path for c in self.changes if c.ignored)

    @property
    def applied_paths(self) -> list[str]:
        return sorted(c.path for c in self.applied)

    @property
    def protected(self) -> list[str]:
        return sorted(c.path for c in self.changes if c.protected is not None)

    def protected_reasons(self) -> dict[str, str]:
        return {c.path: c.protected for c in self.changes if c.protected is not None}

    def matching(self, patterns: list[str], applied_only: bool = False) -> list[str]:
        paths = self.applied_paths if applied_only else self.files_changed
        return [p for p in paths if any(fnmatch.fnmatch(p, pattern) for pattern in patterns)]


def tree_change(worktree: Path, manifest: dict[str, tuple[str, str]], rules: ProtectionRules,
                limits: ScanLimits = DEFAULT_LIMITS) -> TreeChange:
    """Compare the agent's tree with the baseline; raises ``safe_fs.TreeError`` past the limits."""
    found = safe_fs.scan_tree(worktree, manifest, skip=is_noise, limits=limits)
    result = TreeChange()
    for path, entry in found.items():
        known = manifest.get(path)
        if known is None:
            status = "added"
        elif known[1] != entry.blob or _kind_of(known[0]) != entry.kind:
            status = "modified"
        else:
            if entry.kind == "file" and (known[0] == "100755") != entry.executable:
                result.mode_only.append(path)
            continue
        result.changes.append(_change(rules, path, status, entry, entry.kind, entry.target))
    for path, (mode, _blob) in manifest.items():
        if path not in found and not is_noise(path, False):
            result.changes.append(_change(rules, path, "deleted", None, _kind_of(mode)))
    result.changes.sort(key=lambda c: c.path)
    result.mode_only.sort()
    return result


def _change(rules: ProtectionRules, path: str, status: str, entry: Entry | None, kind: str,
            target: str = "") -> Change:
    protected = rules.reason(path, kind, target)
    # Only regular files cross into the verification tree: a link inside the tree is no cheat,
    # but nothing a check reads may be an indirection the agent chose.
    outside = kind == "link" or not rules.writable.allows(path)
    return Change(path, status, entry, protected, ignored=protected is None and outside)


def _kind_of(mode: str) -> str:
    return "link" if mode == "120000" else "file"


def apply_change(change: TreeChange, destination: Path) -> None:
    """Write the applied part of ``change`` into ``destination`` (a fresh baseline checkout):
    regular files with at most the executable bit, and removals."""
    for item in change.applied:
        if item.entry is None:
            safe_fs.remove(destination, item.path)
        else:
            assert item.entry.data is not None
            safe_fs.write_file(destination, item.path, item.entry.data, item.entry.executable)


def _before_and_after(change: TreeChange, repo: Path, manifest: dict[str, tuple[str, str]]):
    """Each changed path with its baseline and new content (baseline blobs in one git call)."""
    old = baseline_blobs(repo, [manifest[c.path][1] for c in change.changes if c.status != "added"])
    for item in change.changes:
        before = old.get(manifest[item.path][1], b"") if item.status != "added" else b""
        yield item, before, _content(item.entry)


def count_lines(change: TreeChange, repo: Path, manifest: dict[str, tuple[str, str]]) -> None:
    """``insertions``/``deletions`` as ``git diff --numstat`` counts them (binary files: 0)."""
    for _item, before, after in _before_and_after(change, repo, manifest):
        if _binary(before) or _binary(after):
            continue
        a, b = before.splitlines(), after.splitlines()
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
            if tag != "equal":
                change.deletions += i2 - i1
                change.insertions += j2 - j1


def unified_diff(change: TreeChange, repo: Path, manifest: dict[str, tuple[str, str]]) -> str:
    """A unified diff of the whole change (for Python canaries' ``AgentRun.diff``)."""
    parts: list[str] = []
    for item, before, after in _before_and_after(change, repo, manifest):
        if _binary(before) or _binary(after):
            parts.append(f"Binary files a/{item.path} and b/{item.path} differ\n")
            continue
        lines = difflib.unified_diff(
            before.decode("utf-8", "replace").splitlines(keepends=True),
            after.decode("utf-8", "replace").splitlines(keepends=True),
            "/dev/null" if item.status == "added" else f"a/{item.path}",
            "/dev/null" if item.status == "deleted" else f"b/{item.path}")
        parts.append("".join(line if line.endswith("\n") else line + "\n" for line in lines))
    return "".join(parts)


def _content(entry: Entry | None) -> bytes:
    if entry is None:
        return b""
    if entry.kind == "link":
        return entry.target.encode("utf-8", "surrogateescape")
    return entry.data or b""


def _binary(data: bytes) -> bool:
    return len(data) > NUMSTAT_MAX_BYTES or b"\0" in data[:8000]
