"""Git trees: one baseline repository per canary per session, worktrees for attempts and checks (`TreeManager`).

Host-side git never runs code from a repository: hooks and fsmonitor are off and no global or
system config is read (a repo config could otherwise run commands on the host).
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

from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.trees import safe_fs

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


class WorkspaceError(AgentbenchError):
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
             "-c", "core.autocrlf=false", "-c", "core.quotepath=false",
             # No `git maintenance run --auto` after a commit: a process per baseline, for
             # repositories that live one run.
             "-c", "maintenance.auto=false", "-c", "gc.auto=0", *args],
            cwd=cwd, env=git_environment(), input=input, capture_output=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise WorkspaceError(f"git {' '.join(args)} timed out after {timeout:g} s in {cwd}") from None
    if proc.returncode != 0:
        raise WorkspaceError(
            f"git {' '.join(args)} failed in {cwd}: {proc.stderr.decode(errors='replace').strip()}"
        )
    return proc.stdout


def baseline_manifest(repo: Path, commit: str) -> dict[str, tuple[str, str]]:
    """``{path: (mode, blob id)}`` of every entry of ``commit`` (``git ls-tree -r``)."""
    manifest: dict[str, tuple[str, str]] = {}
    for record in git_bytes("ls-tree", "-r", "-z", "--full-tree", commit, cwd=repo).split(b"\0"):
        if record:
            meta, _, raw_path = record.partition(b"\t")
            mode, _kind, blob = meta.decode().split()
            manifest[raw_path.decode("utf-8", "surrogateescape")] = (mode, blob)
    return manifest


def baseline_blobs(repo: Path, blobs: list[str]) -> dict[str, bytes]:
    """Contents of baseline blobs, in one ``git cat-file --batch`` (object store only: no
    filters, no attributes)."""
    if not blobs:
        return {}
    proc = subprocess.run(["git", "cat-file", "--batch"], cwd=repo, env=git_environment(),
                          input="".join(f"{b}\n" for b in blobs).encode(), capture_output=True,
                          timeout=60, check=True)
    out, found, position = proc.stdout, {}, 0
    for blob in blobs:
        header_end = out.index(b"\n", position)
        header = out[position:header_end].split()
        if len(header) < 3:  # "<id> missing"
            position = header_end + 1
            continue
        size = int(header[2])
        found[blob] = out[header_end + 1:header_end + 1 + size]
        position = header_end + 1 + size + 1
    return found


def tree_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    if directory.is_dir():
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def files_digest(files: dict[str, tuple[bytes, bool]]) -> str:
    """:func:`tree_digest` of files held in memory (the same value for the same files)."""
    digest = hashlib.sha256()
    for relative in sorted(files):
        digest.update(relative.encode() + b"\0")
        digest.update(files[relative][0] + b"\0")
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


def _stat_digest(directory: Path) -> str:
    """A digest of every entry's name, kind, size, inode and change time under ``directory``,
    read by ``lstat`` alone (cheap for thousands of objects). A write, a rename over or a chmod
    moves the change time, which no command can set back."""
    digest = hashlib.sha256()
    stack = [directory]
    while stack:
        current = stack.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as exc:
            digest.update(f"{current}:{exc.errno}".encode())
            continue
        for entry in entries:
            info = entry.stat(follow_symlinks=False)
            digest.update(f"{entry.path}\0{info.st_mode}\0{info.st_size}\0{info.st_ino}\0"
                          f"{info.st_ctime_ns}\0".encode("utf-8", "surrogateescape"))
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
    return digest.hexdigest()[:16]


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
            self._manifest = baseline_manifest(self.path, self.commit)
        return self._manifest

    @classmethod
    def build(cls, source: Path, destination: Path,
              files: dict[str, tuple[bytes, bool]] | None = None) -> Baseline:
        """The baseline of ``source``, or of ``files`` (path -> content, executable) when given:
        the canary's files as the run first read them (attempt/canary_files.py)."""
        if destination.exists():
            shutil.rmtree(destination)
        if files is not None:
            destination.mkdir(parents=True)
            for relative, (data, executable) in files.items():
                if not relative.startswith(".git/") and relative != ".git":
                    safe_fs.write_file(destination, relative, data, executable)
        elif source.is_dir():
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
        self._pools: dict[tuple[str, str], list[Path]] = {}  # (commit, purpose) -> trees
        self._names = 0

    def baseline(self, repo_dir: Path, canary_id: str,
                 files: dict[str, tuple[bytes, bool]] | None = None) -> Baseline:
        """The canary's baseline repository, built on first use from ``files`` (the canary's
        files as the run read them) or else from ``repo_dir`` on disk."""
        key = repo_dir.resolve()
        if key not in self._baselines:
            digest = files_digest(files) if files is not None else tree_digest(repo_dir)
            destination = self.root / "baselines" / f"{canary_id}-{digest}"
            self._baselines[key] = Baseline.build(repo_dir, destination, files)
        return self._baselines[key]

    def discard(self, baseline: Baseline) -> None:
        """Forget a baseline whose repository an attempt tampered with: the next one rebuilds it,
        and none of its pooled trees is used again."""
        for key, known in list(self._baselines.items()):
            if known is baseline:
                del self._baselines[key]
        removed = False
        for key in [k for k in self._pools if k[0] == baseline.commit]:
            for tree in self._pools.pop(key):
                self.remove_worktree(baseline, tree, prune=False)
                removed = True
        if removed:
            self._prune(baseline)

    def acquire(self, baseline: Baseline, purpose: str = "work") -> Path:
        """A tree at the baseline commit, checked against the baseline's blob ids: a pooled one
        when there is one, else a new checkout. ``purpose`` keeps pools apart: a tree that held
        a verification (the hidden tests, the checks' own writes) is never an agent's worktree."""
        pool = self._pools.get((baseline.commit, purpose))
        if pool:
            return pool.pop()
        self._names += 1
        return self.checkout(baseline, f"{purpose}-{self._names}")

    def checkout(self, baseline: Baseline, name: str) -> Path:
        """A new worktree, checked against the baseline's blob ids."""
        tree = self.create_worktree(baseline, name)
        problem = pristine_problem(baseline, tree)
        if problem:
            # The checkout itself is not the baseline: its objects were rewritten (without a
            # jail a command can reach the object store). Nothing may be built on it.
            self.discard(baseline)
            self.remove_worktree(baseline, tree)
            raise WorkspaceError(f"a fresh checkout of the baseline differs from it ({problem}): "
                                 "its git objects were changed; the baseline is rebuilt")
        return tree

    def release(self, baseline: Baseline, tree: Path, reuse: bool, purpose: str = "work") -> str | None:
        """Return a tree to its pool after a reset that restores it to the baseline exactly, or
        remove it. Only trees whose git metadata the commands could not write (the jail binds it
        read-only) may be reused: ``git reset`` trusts the index. Never raises."""
        if reuse and self._reset(baseline, tree):
            self._pools.setdefault((baseline.commit, purpose), []).append(tree)
            return None
        return self.remove_worktree(baseline, tree)

    def _reset(self, baseline: Baseline, tree: Path) -> bool:
        # Modes and extended attributes first: git neither sees nor restores them, and a
        # read-only directory would stop the clean. Git never follows a link in the work tree when
        # it writes, removes nested repositories with -ff and ignored files with -x. Clean before
        # the reset: an untracked .gitattributes the agent wrote (eol=crlf) would otherwise steer
        # the reset's checkout. Anything that fails (a tree too deep for PATH_MAX, an attribute
        # that cannot be removed) fails the reset, and so does a tree that is not the baseline
        # afterwards, byte for byte: the tree is then removed, never reused.
        def top_git(path: str, is_dir: bool) -> bool:
            return path == ".git"

        try:
            safe_fs.scrub(tree, skip=top_git)
            git("clean", "-ffdxq", cwd=tree, timeout=60)
            git("reset", "-q", "--hard", baseline.commit, cwd=tree, timeout=60)
            # Git does not see special files (a FIFO is neither tracked nor untracked to it):
            # whatever is still there and not in the baseline goes, by a walk that reads nothing.
            entries = safe_fs.scan_tree(tree, skip=top_git, read=False)
            for path in sorted(set(entries) - set(baseline.manifest)):
                safe_fs.remove(tree, path)
            return pristine_problem(baseline, tree) is None
        except (WorkspaceError, OSError, ValueError, safe_fs.TreeError):
            return False

    def close(self) -> None:
        to_prune: dict[Path, Baseline] = {}
        for (commit, _purpose), trees in self._pools.items():
            baseline = next((b for b in self._baselines.values() if b.commit == commit), None)
            for tree in trees:
                if baseline is not None:
                    self.remove_worktree(baseline, tree, prune=False)
                    to_prune[baseline.path] = baseline
                else:
                    safe_fs.remove_tree(tree)
        for baseline in to_prune.values():  # once per repository, after all its trees went
            self._prune(baseline)
        self._pools.clear()

    def create_worktree(self, baseline: Baseline, name: str) -> Path:
        path = self.root / "worktrees" / name
        if path.exists():
            self.remove_worktree(baseline, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        git("worktree", "add", "-q", "--detach", str(path), baseline.commit, cwd=baseline.path)
        return path

    def remove_worktree(self, baseline: Baseline, path: Path, prune: bool = True) -> str | None:
        """Remove a worktree whatever the agent left in it (any depth, long names, FIFOs,
        read-only directories). Never raises: returns what could not be cleaned up, or None.
        ``prune``: drop its record from the baseline's git now (else the caller prunes once, after
        removing several)."""
        problem = safe_fs.remove_tree(path)
        if prune:
            pruned = self._prune(baseline)
            problem = problem or pruned
        return problem

    @staticmethod
    def _prune(baseline: Baseline) -> str | None:
        try:
            git("worktree", "prune", cwd=baseline.path)
        except (WorkspaceError, OSError) as exc:
            return str(exc)
        return None


def pristine_problem(baseline: Baseline, tree: Path) -> str | None:
    """Why ``tree`` is not exactly the baseline commit (a file missing, extra, of other content
    or executable bit, a link or special file where a file belongs), or None. Every file is read
    and hashed: git's blob ids are the digest it is checked against."""
    def top_git(path: str, is_dir: bool) -> bool:
        return path == ".git"

    try:
        entries = safe_fs.scan_tree(tree, baseline.manifest, skip=top_git)
    except (safe_fs.TreeError, OSError) as exc:
        return f"unreadable: {exc}"
    for path, (mode, blob) in baseline.manifest.items():
        entry = entries.get(path)
        kind = "link" if mode == "120000" else "file"
        if entry is None or entry.kind != kind or entry.blob != blob:
            return f"{path} is not the baseline's"
        if kind == "file" and entry.executable != (mode == "100755"):
            return f"{path} has another mode than the baseline's"
    extra = sorted(set(entries) - set(baseline.manifest))
    return f"{extra[0]} is not in the baseline" if extra else None


@dataclass(frozen=True)
class GitState:
    """What an attempt must leave as it found it in the host's git."""

    refs: str  # every ref of the baseline repository, stash included
    pointer: bytes  # the worktree's .git file, which names its git directory
    config: bytes  # the baseline's .git/config, which host-side git reads
    metadata: str = ""  # digest of the baseline's .git/info/ and .git/hooks/ (exclude, hooks)
    objects: str = ""  # the baseline's object store: names, sizes, inodes and change times

    @classmethod
    def capture(cls, baseline: Baseline, worktree: Path) -> GitState:
        pointer = worktree / ".git"
        return cls(
            refs=git("for-each-ref", "--format=%(refname) %(objectname)", cwd=baseline.path),
            pointer=pointer.read_bytes() if pointer.is_file() and not pointer.is_symlink() else b"",
            config=(baseline.path / ".git" / "config").read_bytes(),
            metadata=_safe_digest(baseline.path / ".git" / "info") + _safe_digest(baseline.path / ".git" / "hooks"),
            objects=_stat_digest(baseline.path / ".git" / "objects"),
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
        if now.objects != self.objects:
            found.append("the baseline repository's objects (what the diff and the checks' trees "
                         "are built from) were changed")
        return found
