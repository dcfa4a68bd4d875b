"""Checks of a canary's starting ``repo/`` that must fail collection, not an attempt mid-run.

The baseline copies ``repo/`` following symbolic links (shutil.copytree), so a link to a file
outside ``repo/`` would copy that file (``~/.ssh/id_rsa``...) into every worktree the model sees;
a dangling or looping link would break the copy in the middle of an attempt. File names that are
not UTF-8 cannot be shown to the model, written to the JSON report or matched by globs.
"""

from __future__ import annotations

import os
from pathlib import Path

SKIPPED = {".git", "__pycache__"}  # never copied into the baseline
SHOWN = 5  # problems listed before "and N more"


def _display(path: Path) -> str:
    """A path as text even when it is not valid UTF-8 (its bad bytes escaped)."""
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def _link_problem(link: Path, root: Path, where: str) -> str | None:
    target = os.readlink(link)
    resolved = Path(os.path.realpath(link))
    shown = f"{where}: a symbolic link to {_display(Path(target))}"
    if resolved != root and root not in resolved.parents:
        return f"{shown}, outside repo/: its target would be copied into every worktree (copy the file in instead)"
    if not resolved.exists():
        return f"{shown}, which does not exist"
    if resolved.is_dir() and (resolved == link.parent.resolve() or resolved in link.parent.resolve().parents):
        return f"{shown}, one of its own parents: copying repo/ would never end"
    return None


def repo_problems(repo: Path) -> list[str]:
    """Problems of ``repo`` (which exists), each naming the offending path; sorted, so collection
    errors are the same on every xdist worker."""
    root = repo.resolve()
    problems: list[str] = []
    pending = [repo]
    while pending:
        directory = pending.pop()
        with os.scandir(directory) as entries:  # one pass, d_type answers is_symlink/is_dir
            for entry in entries:
                if entry.name in SKIPPED:
                    continue
                path = Path(entry.path)
                where = _display(path)
                try:
                    entry.name.encode("utf-8")
                except UnicodeEncodeError:  # surrogate-escaped bytes from the file system
                    problems.append(f"{where}: the file name is not valid UTF-8 (rename it)")
                    continue
                if entry.is_symlink():
                    problem = _link_problem(path, root, where)
                    if problem:
                        problems.append(problem)
                elif entry.is_dir():
                    pending.append(path)
    problems.sort()
    if len(problems) > SHOWN:
        problems[SHOWN:] = [f"... and {len(problems) - SHOWN} more"]
    return problems
