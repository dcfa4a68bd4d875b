"""A canary's own files, read once per process before any attempt runs.

Without an OS sandbox (the ``none`` tier) a model's commands run as the user and can rewrite the
canary on disk: its ``hidden/`` tests, its ``repo/``. Verdicts must not rest on files the agent
could write, so the harness reads ``repo/``, ``hidden/`` and the names in ``solution/`` into
memory when the canary is collected (under xdist every worker collects before any attempt
starts) and builds baselines and verification trees from that copy. After each attempt of the
``none`` tier the canary directory is compared with the copy; a change is tampering, and the
files are put back as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_agentbench.trees import safe_fs

_SUBDIRS = ("repo", "hidden", "solution")
_SNAPSHOTS: dict[Path, CanaryFiles] = {}  # per process, by canary.toml path


def _skip(path: str, is_dir: bool) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name == "__pycache__" if is_dir else name.endswith(".pyc")


@dataclass(frozen=True)
class CanaryFiles:
    toml: Path
    repo_dir: Path
    # relative path -> (content, executable), per directory
    repo: dict[str, tuple[bytes, bool]]
    hidden: dict[str, bytes]
    solution: dict[str, bytes]

    @property
    def directories(self) -> dict[str, Path]:
        base = self.toml.parent
        return {"repo": self.repo_dir, "hidden": base / "hidden", "solution": base / "solution"}

    def changed_on_disk(self) -> list[str]:
        """Paths of the canary (``repo/x``, ``hidden/y``...) that differ on disk from the copy."""
        found: list[str] = []
        for name, directory in self.directories.items():
            expected = self._files(name)
            try:
                entries = safe_fs.scan_tree(directory, skip=_skip) if directory.is_dir() else {}
            except (safe_fs.TreeError, OSError):
                found.append(f"{name}/")
                continue
            for path in sorted(set(expected) | set(entries)):
                entry = entries.get(path)
                if (path not in expected or entry is None or entry.kind != "file"
                        or entry.blob != safe_fs.blob_id(expected[path])):
                    found.append(f"{name}/{path}")
        return found

    def restore(self) -> list[str]:
        """Put the canary's files back as they were read (never following a link); returns what
        could not be put back (never raises: the attempt's record must not be lost to it)."""
        problems = []
        for name, directory in self.directories.items():
            expected = self._files(name)
            try:
                if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
                    safe_fs.remove_tree(directory)  # a link or a file where the directory was
                if not expected and not directory.exists():
                    continue
                directory.mkdir(parents=True, exist_ok=True)
                entries = safe_fs.scan_tree(directory, skip=_skip, read=False)
                for path in sorted(set(entries) - set(expected)):
                    safe_fs.remove(directory, path)
                for path, data in expected.items():
                    executable = name == "repo" and self.repo[path][1]
                    safe_fs.write_file(directory, path, data, executable)
            except (OSError, ValueError, safe_fs.TreeError) as exc:
                problems.append(f"{name}/: {exc}")
        return problems

    def _files(self, name: str) -> dict[str, bytes]:
        if name == "repo":
            return {path: data for path, (data, _x) in self.repo.items()}
        return self.hidden if name == "hidden" else self.solution


def _read(directory: Path) -> dict[str, tuple[bytes, bool]]:
    if not directory.is_dir():
        return {}
    found = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            found[path.relative_to(directory).as_posix()] = (path.read_bytes(),
                                                             bool(path.stat().st_mode & 0o100))
    return found


def snapshot(toml: Path, repo_dir: Path) -> CanaryFiles:
    """The canary's files as this process first read them."""
    known = _SNAPSHOTS.get(toml)
    if known is None:
        base = toml.parent
        hidden = {p: data for p, (data, _x) in _read(base / "hidden").items()}
        solution = {p: data for p, (data, _x) in _read(base / "solution").items()}
        known = CanaryFiles(toml, repo_dir, _read(repo_dir), hidden, solution)
        _SNAPSHOTS[toml] = known
    return known


def forget() -> None:
    """Drop the copies: the next run reads the canaries again."""
    _SNAPSHOTS.clear()
