"""Push as part of the task (``verify.push = true``): the result is what the agent pushed.

An unattended agent's most common failure is work that is right in its tree but never committed
and pushed. A push canary measures it: the attempt's tree is a clone (with a git directory the
agent may write) of a local bare *remote* holding the baseline on ``main``; the agent commits and
pushes with ``git`` from its shell. Verification is built from the commit on the remote's
``main``, not from the working tree: files are read from the remote's objects by the harness
(``git ls-tree``/``cat-file``, which run no hook and apply no filter), written into a scratch
directory without following links, and verified there like any agent tree (writable set,
protected paths, hidden tests, checks in a clean verification tree).

A working tree holding a qualifying change that is not what was pushed makes a failing attempt
``unpushed`` (the work may be right, it is not delivered); a pushed change that fails the checks
is ``failed``. In the bubblewrap tier the remote is the only writable path outside the tree and
there is no network, so no push reaches anything else.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from pytest_agentbench.trees import safe_fs
from pytest_agentbench.trees.workspace import (
    Baseline,
    WorkspaceError,
    baseline_blobs,
    git,
    git_bytes,
)

BRANCH = "main"
MAX_PUSHED_BYTES = 512 * 2**20  # as much as a working tree's change may hold (tree_diff's bound)


@dataclass(frozen=True)
class PushRemote:
    remote: Path  # the bare repository the agent pushes to (its clone's ``origin``)

    @classmethod
    def create(cls, baseline: Baseline, directory: Path, worktree: Path) -> PushRemote:
        """A bare remote holding the baseline commit on ``main`` in ``directory``, and the
        agent's clone of it at ``worktree``."""
        remote = directory / "remote.git"
        safe_fs.remove_tree(remote)
        remote.mkdir(parents=True)
        git("init", "-q", "--bare", "-b", BRANCH, cwd=remote)
        git("push", "-q", str(remote), f"{baseline.commit}:refs/heads/{BRANCH}", cwd=baseline.path)
        git("clone", "-q", "--no-hardlinks", str(remote), str(worktree), cwd=directory)
        # The commands run with no global git config: the clone says who commits.
        git("config", "user.name", "agent", cwd=worktree)
        git("config", "user.email", "agent@localhost", cwd=worktree)
        return cls(remote)

    def pushed_commit(self) -> str | None:
        """What the remote's ``main`` names (its objects are read later, by ``materialize``), or
        None when there is no such branch."""
        try:
            return git("rev-parse", "-q", "--verify", f"refs/heads/{BRANCH}", cwd=self.remote).strip() or None
        except WorkspaceError:
            return None

    def materialize(self, commit: str, destination: Path) -> None:
        """Write the files of ``commit`` into ``destination`` (regular files and links; nested
        repositories are left out). Raises ``safe_fs.TreeError`` past the size bound."""
        # ls-tree of a ref to a missing or non-commit object fails: WorkspaceError for the caller.
        listing = git_bytes("ls-tree", "-r", "-z", "--full-tree", "-l", f"{commit}^{{commit}}",
                            cwd=self.remote)
        entries: list[tuple[str, str, str]] = []  # (mode, blob, path)
        total = 0
        for record in listing.split(b"\0"):
            if not record:
                continue
            meta, _, raw_path = record.partition(b"\t")
            mode, kind, blob, size = meta.decode().split()
            if kind != "blob":
                continue  # a submodule's commit: nothing to verify here
            total += int(size) if size.isdigit() else 0
            if total > MAX_PUSHED_BYTES:
                raise safe_fs.TreeError(f"the pushed commit holds more than "
                                        f"{MAX_PUSHED_BYTES // 2**20} MiB")
            entries.append((mode, blob, raw_path.decode("utf-8", "surrogateescape")))
        contents = baseline_blobs(self.remote, sorted({blob for _, blob, _ in entries}))
        missing = sorted({path for _, blob, path in entries if blob not in contents})
        if missing:  # the commit names content the remote no longer has
            raise ValueError(f"its objects for {', '.join(missing[:5])} are missing")
        for mode, blob, path in entries:
            data = contents[blob]
            if mode == "120000":
                safe_fs.make_link(destination, path, data.decode("utf-8", "surrogateescape"))
            else:
                safe_fs.write_file(destination, path, data, executable=mode == "100755")


def pushed_tree(remote: PushRemote, baseline: Baseline,
                scratch_parent: Path) -> tuple[Path, str | None, str]:
    """A scratch directory holding what was pushed (the baseline when nothing was), the pushed
    commit (None: nothing beyond the baseline) and why a push could not be read ('' when it
    could). The caller removes the directory.

    The remote is the agent's to write: a pushed commit its objects cannot give back (objects
    removed, a ref to nothing) was not delivered. That is the attempt's result, never a fault of
    the harness, so the baseline stands in for it and the reason is said."""
    directory = Path(tempfile.mkdtemp(prefix="pushed.", dir=scratch_parent))
    commit = remote.pushed_commit()
    if commit is not None and commit != baseline.commit:
        try:
            remote.materialize(commit, directory)
            return directory, commit, ""
        except (WorkspaceError, safe_fs.TreeError, OSError, ValueError) as exc:
            problem = f"the pushed commit {commit[:12]} cannot be read from the remote: {exc}"
            safe_fs.remove_tree(directory)
            directory.mkdir()
    else:
        problem = ""
    PushRemote(baseline.path).materialize(baseline.commit, directory)
    return directory, None, problem
