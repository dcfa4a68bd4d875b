"""Git trees: one baseline repository per canary per session, worktrees for attempts and checks (`TreeManager`).

Host-side git never runs code from a repository: hooks and fsmonitor are off and no global or
system config is read (a repo config could otherwise run commands on the host, DESIGN §7).
Worktrees live outside the user's project so that verification runs of ``pytest`` inside them
cannot pick up the project's own ``conftest.py`` or ini file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from pytest_agentbench import safe_fs

# Noise that running tests creates; never a "change" the agent made.
IGNORED_NOISE = ["__pycache__/", "*.pyc", ".pytest_cache/", ".agentbench-*", "*.egg-info/"]

_GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "agentbench",
    "GIT_AUTHOR_EMAIL": "agentbench@localhost",
    "GIT_COMMITTER_NAME": "agentbench",
    "GIT_COMMITTER_EMAIL": "agentbench@localhost",
    # A fixed date makes the baseline commit id a pure function of the canary's files.
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z",
    "GIT_TERMINAL_PROMPT": "0",
}


GIT_TIMEOUT = 120.0  # host-side git never runs unbounded (a huge tree must not stall the run)


class WorkspaceError(Exception):
    """Git failed while preparing or inspecting a workspace (a harness problem)."""


def git(*args: str, cwd: Path, input: bytes | None = None, timeout: float = GIT_TIMEOUT) -> str:
    return git_bytes(*args, cwd=cwd, input=input, timeout=timeout).decode("utf-8", errors="replace")


def git_environment() -> dict[str, str]:
    # GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE... from the caller (e.g. pytest run from a git hook)
    # would point these commands at another repository.
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(_GIT_ENV)
    return env


def git_bytes(*args: str, cwd: Path, input: bytes | None = None, timeout: float = GIT_TIMEOUT) -> bytes:
    """:func:`git`'s raw output, for file contents (``cat-file``) that may not be text."""
    try:
        proc = subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false",
             "-c", "core.autocrlf=false", "-c", "core.quotepath=false", *args],
            cwd=cwd, env=git_environment(), input=input, capture_output=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise WorkspaceError(f"git {' '.join(args)} timed out after {timeout:g} s in {cwd}") from None
    if proc.returncode != 0:
        raise WorkspaceError(
            f"git {' '.join(args)} failed in {cwd}: {proc.stderr.decode(errors='replace').strip()}"
        )
    return proc.stdout


def tree_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    if directory.is_dir():
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _safe_digest(directory: Path) -> str:
    """Like :func:`_tree_digest` for a directory the agent may have written (none tier): links
    are not followed, FIFOs not opened, size bounded."""
    if not directory.is_dir() or directory.is_symlink():
        return "absent" if not directory.is_symlink() else "link"
    try:
        entries = safe_fs.scan_tree(directory, limits=safe_fs.ScanLimits(max_bytes=64 * 2**20))
    except (safe_fs.TreeError, OSError) as exc:
        return f"unreadable:{exc}"
    digest = hashlib.sha256()
    for path, entry in sorted(entries.items()):
        digest.update(f"{path}\0{entry.kind}\0{entry.blob}\0{entry.target}\0".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:12]


@dataclass
class Baseline:
    """A git repository whose single commit holds the canary's starting files."""

    path: Path
    commit: str
    _manifest: dict[str, tuple[str, str]] | None = field(default=None, repr=False, compare=False)

    @property
    def manifest(self) -> dict[str, tuple[str, str]]:
        """``{path: (mode, blob id)}`` of the baseline commit, read once."""
        if self._manifest is None:
            from pytest_agentbench.tree_diff import baseline_manifest

            self._manifest = baseline_manifest(self.path, self.commit)
        return self._manifest

    @classmethod
    def build(cls, source: Path, destination: Path) -> Baseline:
        if destination.exists():
            shutil.rmtree(destination)
        if source.is_dir():
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".git"))
        else:
            destination.mkdir(parents=True)
        git("init", "-q", "-b", "main", cwd=destination)
        exclude = destination / ".git" / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        exclude.write_text("\n".join(IGNORED_NOISE) + "\n")
        git("add", "-A", cwd=destination)
        git("commit", "-q", "--allow-empty", "--no-gpg-sign", "-m", "agentbench baseline", cwd=destination)
        return cls(destination, git("rev-parse", "HEAD", cwd=destination).strip())


class TreeManager:
    """Builds baselines lazily (once per canary per process) and hands out worktrees."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._baselines: dict[Path, Baseline] = {}
        # Pooled trees, per baseline commit: reset to the baseline and ready for the next attempt
        # (a fresh checkout of a 5,000-file repo costs seconds, a reset tens of milliseconds).
        self._pools: dict[str, list[Path]] = {}
        self._names = 0

    def baseline(self, repo_dir: Path, canary_id: str) -> Baseline:
        key = repo_dir.resolve()
        if key not in self._baselines:
            destination = self.root / "baselines" / f"{canary_id}-{tree_digest(repo_dir)}"
            self._baselines[key] = Baseline.build(repo_dir, destination)
        return self._baselines[key]

    def discard(self, baseline: Baseline) -> None:
        """Forget a baseline whose repository an attempt tampered with: the next one rebuilds it,
        and none of its pooled trees is used again."""
        for key, known in list(self._baselines.items()):
            if known is baseline:
                del self._baselines[key]
        for tree in self._pools.pop(baseline.commit, []):
            self.remove_worktree(baseline, tree)

    def acquire(self, baseline: Baseline) -> Path:
        """A tree at the baseline commit: a pooled one when there is one, else a new checkout."""
        pool = self._pools.get(baseline.commit)
        if pool:
            return pool.pop()
        self._names += 1
        return self.create_worktree(baseline, f"tree-{self._names}")

    def release(self, baseline: Baseline, tree: Path, reuse: bool) -> str | None:
        """Return a tree to the pool after resetting it to the baseline, or remove it. Only trees
        whose git metadata the commands could not write (the jail binds it read-only) may be
        reused: ``git reset`` trusts the index. Never raises."""
        if reuse and self._reset(baseline, tree):
            self._pools.setdefault(baseline.commit, []).append(tree)
            return None
        return self.remove_worktree(baseline, tree)

    def _reset(self, baseline: Baseline, tree: Path) -> bool:
        # Git never follows a link in the work tree when it writes, removes nested repositories
        # with -ff and ignored files with -x. Clean first: an untracked .gitattributes the agent
        # wrote (eol=crlf) would otherwise steer the reset's checkout. Anything git cannot do (a
        # read-only directory, a tree too deep for PATH_MAX) fails the reset: the tree is removed.
        try:
            git("clean", "-ffdxq", cwd=tree, timeout=60)
            git("reset", "-q", "--hard", baseline.commit, cwd=tree, timeout=60)
            # Git does not see special files (a FIFO is neither tracked nor untracked to it):
            # whatever is still there and not in the baseline goes, by a walk that reads nothing.
            def top_git(path: str, is_dir: bool) -> bool:
                return path == ".git"

            entries = safe_fs.scan_tree(tree, skip=top_git, read=False)
            for path in sorted(set(entries) - set(baseline.manifest)):
                safe_fs.remove(tree, path)
            return True
        except (WorkspaceError, OSError, ValueError, safe_fs.TreeError):
            return False

    def close(self) -> None:
        for commit, trees in self._pools.items():
            baseline = next((b for b in self._baselines.values() if b.commit == commit), None)
            for tree in trees:
                if baseline is not None:
                    self.remove_worktree(baseline, tree)
                else:
                    safe_fs.remove_tree(tree)
        self._pools.clear()

    def create_worktree(self, baseline: Baseline, name: str) -> Path:
        path = self.root / "worktrees" / name
        if path.exists():
            self.remove_worktree(baseline, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        git("worktree", "add", "-q", "--detach", str(path), baseline.commit, cwd=baseline.path)
        return path

    def remove_worktree(self, baseline: Baseline, path: Path) -> str | None:
        """Remove a worktree whatever the agent left in it (any depth, long names, FIFOs,
        read-only directories). Never raises: returns what could not be cleaned up, or None."""
        problem = safe_fs.remove_tree(path)
        try:
            git("worktree", "prune", cwd=baseline.path)
        except (WorkspaceError, OSError) as exc:
            problem = problem or str(exc)
        return problem


@dataclass(frozen=True)
class GitState:
    """What an attempt must leave as it found it in the host's git (issue 5, item 4)."""

    refs: str  # every ref of the baseline repository, stash included
    pointer: bytes  # the worktree's .git file, which names its git directory
    config: bytes  # the baseline's .git/config, which host-side git reads
    metadata: str = ""  # digest of the baseline's .git/info/ and .git/hooks/ (exclude, hooks)

    @classmethod
    def capture(cls, baseline: Baseline, worktree: Path) -> GitState:
        pointer = worktree / ".git"
        return cls(
            refs=git("for-each-ref", "--format=%(refname) %(objectname)", cwd=baseline.path),
            pointer=pointer.read_bytes() if pointer.is_file() and not pointer.is_symlink() else b"",
            config=(baseline.path / ".git" / "config").read_bytes(),
            metadata=_safe_digest(baseline.path / ".git" / "info") + _safe_digest(baseline.path / ".git" / "hooks"),
        )

    def changes(self, now: GitState) -> list[str]:
        found = []
        if now.refs != self.refs:
            added = sorted(set(now.refs.splitlines()) - set(self.refs.splitlines()))
            found.append(f"refs of the baseline repository changed: {added or 'refs removed'}")
        if now.pointer != self.pointer:
            found.append("the worktree's .git pointer was changed")
        if now.config != self.config:
            found.append("the baseline repository's .git/config was changed")
        if now.metadata != self.metadata:
            found.append("the baseline repository's .git/info/ or .git/hooks/ was changed")
        return found
