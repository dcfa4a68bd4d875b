"""Phase checks from the failure taxonomy: what a phase changed (phantom, read-only
violations, the regression gate's revert), and whether its claims are backed by its transcript
(hallucinated) and by the tree (invalid paths).

The tree is read by the harness with :func:`safe_fs.scan_tree` (no link followed, no special file
opened, bounded), never through git in the agent's tree, as verification does.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_agentbench.trees import safe_fs
from pytest_agentbench.trees.safe_fs import Entry
from pytest_agentbench.trees.tree_diff import is_noise

_GLOB = re.compile(r"[*?\[\]{}]")


# -- what a phase changed -------------------------------------------------------------------------

Snapshot = dict[str, Entry]


def snapshot(root: Path) -> Snapshot:
    """Every file and link of the tree with its content (the harness's noise left out)."""
    return safe_fs.scan_tree(root, None, skip=is_noise)


def changed_paths(before: Snapshot, after: Snapshot) -> list[str]:
    """Paths added, removed or changed (content, kind, executable bit) between two snapshots."""
    paths = set(before) | set(after)
    return sorted(p for p in paths if _key(before.get(p)) != _key(after.get(p)))


def _key(entry: Entry | None) -> tuple | None:
    return None if entry is None else (entry.kind, entry.blob, entry.executable)


def revert(root: Path, before: Snapshot, paths: list[str]) -> None:
    """Put ``paths`` back as they were in ``before`` (a path it lacks is removed)."""
    for path in paths:
        entry = before.get(path)
        if entry is None:
            safe_fs.remove(root, path)
        elif entry.kind == "link":
            safe_fs.make_link(root, path, entry.target)
        elif entry.kind == "file" and entry.data is not None:
            safe_fs.write_file(root, path, entry.data, entry.executable)


def restore_all(root: Path, before: Snapshot) -> None:
    """Put the whole tree back as ``before`` had it, whatever is there now (a directory too deep
    to read, special files): everything but ``.git`` is removed, then ``before`` written back."""
    with os.scandir(root) as entries:
        names = [entry.name for entry in entries]
    for name in names:
        if name != ".git":
            safe_fs.remove(root, name)
    for path, entry in before.items():
        if entry.kind == "link":
            safe_fs.make_link(root, path, entry.target)
        elif entry.kind == "file" and entry.data is not None:
            safe_fs.write_file(root, path, entry.data, entry.executable)


# -- what a phase did, from its own conversation -----------------------------------------------------

@dataclass
class Activity:
    """The tool calls of one phase that ran (a call answered with an error did not read anything)."""

    read: set[str] = field(default_factory=set)  # read_file paths, grep on one file
    listed: set[str] = field(default_factory=set)  # paths a listing, glob or grep result showed
    commands: list[str] = field(default_factory=list)  # shell commands run
    shell_text: list[str] = field(default_factory=list)  # shell commands and their output


def _norm(path: str) -> str:
    path = path.strip().strip("'\"`")
    while path.startswith("./"):
        path = path[2:]
    return posixpath.normpath(path) if path else path


def activity(messages: list[dict[str, Any]]) -> Activity:
    """What the phase's tool calls did, read from its message history (the loop's own record:
    every call with its arguments, every result the model saw)."""
    from pytest_agentbench.agent.tools import canonical_tool_name, normalize_arguments

    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    found = Activity()
    for message in messages:
        if message.get("role") == "assistant":
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                name = canonical_tool_name(str(function.get("name") or ""))
                raw = function.get("arguments")
                try:
                    arguments = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
                except (ValueError, TypeError):
                    continue
                if name and isinstance(arguments, dict):
                    calls[str(call.get("id"))] = (name, normalize_arguments(arguments)[0])
        elif message.get("role") == "tool":
            known = calls.get(str(message.get("tool_call_id")))
            result = str(message.get("content") or "")
            if known is None or result.startswith("Error:"):
                continue
            _account(found, *known, result)
    return found


def _account(found: Activity, name: str, arguments: dict[str, Any], result: str) -> None:
    path = _norm(str(arguments.get("path") or "."))
    lines = [line for line in result.splitlines() if line and not line.startswith("... (")]
    if name == "read_file":
        found.read.add(path)
    elif name == "list_dir":
        base = "" if path in (".", "") else path
        found.listed.update(_norm(posixpath.join(base, line.rstrip("/"))) for line in lines)
    elif name == "glob":
        found.listed.update(_norm(line) for line in lines if line != "(no matches)")
    elif name == "grep":
        found.read.add(path)  # grep on one file reads it
        found.listed.update(_norm(line.split(":", 1)[0]) for line in lines if ":" in line)
    elif name == "shell":
        command = str(arguments.get("command") or "")
        found.commands.append(command)
        found.shell_text += [command, result]


def _in_text(path: str, texts: list[str]) -> bool:
    pattern = re.compile(rf"(?<![\w.-]){re.escape(path)}(?![\w-])")
    return any(pattern.search(text.replace("./", "")) for text in texts)


def _command_words(command: str) -> list[str]:
    """A command as words compared for a claim: whitespace, quotes, a leading ``./`` and a
    trailing ``/`` aside (``pytest tests/`` ran is ``pytest ./tests`` claimed)."""
    words = []
    for word in command.split():
        word = word.strip("'\"`")
        while word.startswith("./") and len(word) > 2:
            word = word[2:]
        if len(word) > 1:
            word = word.rstrip("/") or word
        words.append(word)
    return words


def _ran(claim: list[str], command: list[str]) -> bool:
    """Whether the claimed words appear in order, side by side, in a command that ran."""
    width = len(claim)
    return any(command[i:i + width] == claim for i in range(len(command) - width + 1))


# -- claims ---------------------------------------------------------------------------------------------

def claim_entries(output: Any, field_path: str) -> list[str]:
    """The entries of a claim field (a string or a list; ``a.b`` walks into objects and lists)."""
    from pytest_agentbench.schemas.pipeline import lookup

    return [value if isinstance(value, str) else json.dumps(value)
            for value in lookup(output, field_path.split(".")) if value is not None]


def invalid_path(root: Path, claimed: str) -> str:
    """Why a claimed path is not a file of the tree ('' when it is one): a glob, a tool name,
    an absolute or escaping path, metadata, or nothing there ("manifest pollution")."""
    from pytest_agentbench.agent.tools import canonical_tool_name

    text = claimed.strip()
    if not text:
        return "empty"
    if _GLOB.search(text):
        return "a glob pattern"
    if canonical_tool_name(text) is not None or text in ("list_files", "list_directory", "search"):
        return "a tool name"
    if text.startswith(("/", "~")):
        return "an absolute path"
    path = _norm(text)
    if path == ".." or path.startswith("../"):
        return "outside the repository"
    if path.split("/")[0] == ".git":
        return "git metadata"
    try:
        parent = root.resolve()
        target = (parent / path)
        if target.is_symlink() or not target.is_file() or parent not in target.resolve().parents:
            return "not a file of the repository"
    except OSError:
        return "not a file of the repository"
    return ""


@dataclass
class ClaimVerdict:
    hallucinated: list[str] = field(default_factory=list)
    invalid_paths: list[str] = field(default_factory=list)


def check_claims(output: Any, claims: dict[str, str], done: Activity, root: Path) -> ClaimVerdict:
    """``files`` entries must be files of the tree (else invalid) that this phase read or saw
    listed (else hallucinated); ``commands`` entries must be commands this phase ran with the
    shell tool (the claim appearing in a command it ran, whitespace aside)."""
    verdict = ClaimVerdict()
    ran = [_command_words(command) for command in done.commands]
    for field_path, kind in claims.items():
        for entry in claim_entries(output, field_path):
            if kind == "commands":
                claim = _command_words(entry)
                if not claim or not any(_ran(claim, command) for command in ran):
                    verdict.hallucinated.append(entry)
                continue
            if invalid_path(root, entry):
                verdict.invalid_paths.append(entry)
                continue
            path = _norm(entry)
            if not (path in done.read or path in done.listed or _in_text(path, done.shell_text)):
                verdict.hallucinated.append(entry)
    return verdict
