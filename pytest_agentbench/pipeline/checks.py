"""Phase checks from the failure taxonomy: what a phase changed (phantom, read-only
violations, the regression gate's revert), and whether its claims are backed by its transcript
(hallucinated) and by the tree (invalid paths).

A claimed command must have run in the phase, and what the output claims came of it must be what
the shell recorded: the claim's object (``{"command": ..., "result": "works, prints 3"}``) is read
for a claimed result (:data:`RESULT_FIELDS`) and exit code (:data:`EXIT_FIELDS`), and compared
with the exit status and output of the last run of that command (:func:`result_problem`).

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
_STATUS = re.compile(r"^\[(exit code (-?\d+)|timed out)\]( \(no output\))?\s*$")


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
class ShellRun:
    """One shell call as the tool recorded it: ``[exit code N]`` (or ``[timed out]``), then the
    output (sandbox/commands.py, CommandResult.describe)."""

    command: str
    exit_code: int | None  # None: timed out, or a status line the harness did not write
    timed_out: bool
    output: str

    @classmethod
    def parse(cls, command: str, result: str) -> ShellRun:
        head, _, rest = result.partition("\n")
        match = _STATUS.match(head)
        if match is None:
            return cls(command, None, False, result)
        code = match.group(2)
        return cls(command, int(code) if code is not None else None, match.group(1) == "timed out", rest)


@dataclass
class Activity:
    """The tool calls of one phase that ran (a call answered with an error did not read anything)."""

    read: set[str] = field(default_factory=set)  # read_file paths, grep on one file
    listed: set[str] = field(default_factory=set)  # paths a listing, glob or grep result showed
    commands: list[str] = field(default_factory=list)  # shell commands run
    shell_text: list[str] = field(default_factory=list)  # shell commands and their output
    runs: list[ShellRun] = field(default_factory=list)  # each shell call, with its exit status


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
        found.runs.append(ShellRun.parse(command, result))


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
class Hallucination:
    entry: str  # the claim entry as the output has it
    why: str
    result: bool = False  # the command ran: what the output claims came of it did not


@dataclass
class ClaimVerdict:
    found: list[Hallucination] = field(default_factory=list)
    invalid_paths: list[str] = field(default_factory=list)

    @property
    def hallucinated(self) -> list[str]:
        return [item.entry for item in self.found]

    @property
    def reasons(self) -> list[str]:
        """Why, one per hallucinated entry, in the same order."""
        return [item.why for item in self.found]


def check_claims(output: Any, claims: dict[str, str], done: Activity, root: Path) -> ClaimVerdict:
    """``files`` entries must be files of the tree (else invalid) that this phase read or saw
    listed (else hallucinated); ``commands`` entries must be commands this phase ran with the
    shell tool (the claim appearing in a command it ran, whitespace aside), and a result claimed
    beside one (:func:`claimed_result`) must be what its last run recorded."""
    verdict = ClaimVerdict()

    def hallucinated(entry: str, why: str, result: bool = False) -> None:
        verdict.found.append(Hallucination(entry, why, result))

    recorded = done.runs or [ShellRun(command, None, False, "") for command in done.commands]
    runs = [(_command_words(run.command), run) for run in recorded]
    for field_path, kind in claims.items():
        for entry, holder in claim_items(output, field_path):
            if kind == "commands":
                claim = _command_words(entry)
                matching = [run for words, run in runs if claim and _ran(claim, words)]
                if not matching:
                    hallucinated(entry, "no shell call of this phase ran it")
                    continue
                claimed = claimed_result(holder, field_path.split(".")[-1])
                why = result_problem(claimed, matching[-1]) if claimed is not None else ""
                if why:
                    hallucinated(entry, why, result=True)
                continue
            if invalid_path(root, entry):
                verdict.invalid_paths.append(entry)
                continue
            path = _norm(entry)
            if not (path in done.read or path in done.listed or _in_text(path, done.shell_text)):
                hallucinated(entry, "this phase never read, listed or named it")
    return verdict


def claim_items(output: Any, field_path: str) -> list[tuple[str, dict[str, Any] | None]]:
    """:func:`claim_entries` with the object each entry is a field of, when it is one field's
    whole value (``attacks.command``: each attack); None for an entry of a list, whose siblings
    are not about it."""
    from pytest_agentbench.schemas.pipeline import lookup

    *parents, key = field_path.split(".")
    found: list[tuple[str, dict[str, Any] | None]] = []
    for holder in lookup(output, parents) if parents else [output]:
        if not isinstance(holder, dict) or holder.get(key) is None:
            continue
        value = holder[key]
        if isinstance(value, str):
            found.append((value, holder))
        else:
            found += [(entry if isinstance(entry, str) else json.dumps(entry), None)
                      for entry in (value if isinstance(value, list) else [value]) if entry is not None]
    return found


# -- a command's claimed result against its recorded run ------------------------------------------

# Fields beside a claimed command that say what came of it, and those that give its exit code.
RESULT_FIELDS = ("result", "output", "outcome", "status", "observed", "stdout")
EXIT_FIELDS = ("exit_code", "exit_status", "returncode", "return_code")
# A success claim: the command worked (negated or failure wording makes it none).
_SUCCESS = re.compile(
    r"\b(works?|worked|working|pass(?:es|ed)?|ok|okay|succeed(?:s|ed)?|success(?:ful(?:ly)?)?|"
    r"fine|correct(?:ly)?|clean(?:ly)?|green|exit(?:s|ed)?\s+(?:with\s+)?(?:code\s+|status\s+)?0)\b",
    re.IGNORECASE)
_NO_FAILURE = re.compile(  # "3 passed, 0 failed", "no errors": success wording after all
    r"\b(?:0|no|zero|without(?:\s+an?)?)\s+(?:fail\w*|errors?|exceptions?|tracebacks?|warnings?)\b",
    re.IGNORECASE)
_FAILURE = re.compile(
    r"\b(?:fail\w*|errors?|exceptions?|rais\w*|traceback|crash\w*|broke\w*|breaks?|not|never|"
    r"no\s+longer|cannot|can't|\w+n't|refus\w*|reject\w*|denied|timed?\s*out|non-?zero|abort\w*|"
    r"exit(?:s|ed)?\s+(?:with\s+)?(?:code\s+|status\s+)?[1-9]\d*)\b",
    re.IGNORECASE)
# "prints 3", "printed `{'end': 2}`", "outputs: hello": the value a success claim says it showed.
_PRINTS = re.compile(r"\b(?:prints?|printed|printing|outputs?|outputted|echo(?:es|ed)?)\b\s*:?\s*",
                     re.IGNORECASE)
_QUOTES = {'"': '"', "'": "'", "`": "`", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb"}
_BRACKETS = {"{": "}", "[": "]", "(": ")"}
_VAGUE = {"nothing", "something", "the", "a", "an", "it", "its", "them", "this", "that", "what",
          "expected", "correct", "correctly", "out", "fine", "ok", "no", "all", "every", "each",
          "as", "to", "in", "on", "for", "with", "results", "result", "output", "values", "value"}
# A traceback, or an exception line ("ImportError: ..."), in a command's output.
_TRACEBACK = "Traceback (most recent call last)"
_ERROR_LINE = re.compile(r"^\s*(?:E\s+)?(?:[\w.]+\.)?[A-Z]\w*(?:Error|Exception|Exit)\b:?.*$|"
                         r"^\s*(?:error|fatal|ERROR|FAILED)\b[: ].*$", re.MULTILINE)
QUOTE_CHARS = 160  # of a claim or an output, in a reason


@dataclass
class ClaimedResult:
    text: str  # the result fields' text ('' when only an exit code is claimed)
    exit_code: int | None  # an explicit claimed exit code

    @property
    def success(self) -> bool:
        """Whether the claim says the command worked: an exit code of 0, or success wording
        ("works", "passes", "ok", "succeeded"...) with no failure wording."""
        if self.exit_code is not None:
            return self.exit_code == 0
        text = _NO_FAILURE.sub(" ", self.text)
        return bool(_SUCCESS.search(text)) and not _FAILURE.search(text)

    def printed(self) -> str | None:
        """The value the claim says the command printed ("prints 3"), or None."""
        match = _PRINTS.search(self.text)
        if match is None:
            return None
        return _literal(self.text[match.end():])


def claimed_result(holder: dict[str, Any] | None, key: str) -> ClaimedResult | None:
    """What ``holder`` (the object holding a claimed command under ``key``) says came of it, or
    None when it says nothing."""
    if holder is None:
        return None
    texts, code = [], None
    for name, value in holder.items():
        if name == key:
            continue
        if name in RESULT_FIELDS and isinstance(value, str) and value.strip():
            texts.append(value.strip())
        elif name in EXIT_FIELDS and _an_exit_code(value):
            code = int(value)
    if not texts and code is None:
        return None
    return ClaimedResult("; ".join(texts), code)


def _an_exit_code(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit())


def _literal(rest: str) -> str | None:
    """The value at the start of ``rest``: quoted, bracketed, or one plain token; None when it is
    words about the output ("prints a warning", "prints nothing") rather than the output."""
    rest = rest.strip()
    if not rest:
        return None
    close = _QUOTES.get(rest[0])
    if close is not None:
        end = rest.find(close, 1)
        return rest[1:end] if end > 1 else None
    if rest[0] in _BRACKETS:
        depth = 0
        for index, char in enumerate(rest):
            depth += (char == rest[0]) - (char == _BRACKETS[rest[0]])
            if depth == 0:
                return rest[:index + 1]
        return None
    token = rest.split()[0].rstrip(".,;:!?)")
    if not token or token.lower() in _VAGUE:
        return None
    return token


def _shows(output: str, value: str) -> bool:
    """Whether ``value`` appears in ``output``, whitespace aside; a plain token as a whole word."""
    text, wanted = " ".join(output.split()), " ".join(value.split())
    if not wanted:
        return not text
    if re.fullmatch(r"[\w.+-]+", wanted):
        return re.search(rf"(?<![\w.]){re.escape(wanted)}(?![\w])", text) is not None
    return wanted in text


def error_line(output: str) -> str:
    """The line of ``output`` that says what went wrong: the exception line of a traceback (its
    last one), else the last error line; '' when there is none."""
    lines = _ERROR_LINE.findall(output)
    lines = [line.strip() for line in lines if line.strip()]
    return _quote(lines[-1]) if lines else ""


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS - 1] + "…"


def result_problem(claimed: ClaimedResult, run: ShellRun) -> str:
    """Why ``claimed`` is not what ``run`` recorded ('' when it is): a claimed exit code that is
    not the recorded one; a success claim over a command that failed, timed out or printed a
    traceback; a claimed printed value its output does not show."""
    said = f"claimed {claimed.text!r}" if claimed.text else f"claimed exit code {claimed.exit_code}"
    said = _quote(said)
    where = f"`{_quote(run.command)}`"
    error = error_line(run.output)
    failed = run.timed_out or (run.exit_code is not None and run.exit_code != 0)
    status = ("timed out" if run.timed_out else f"exited {run.exit_code}"
              if run.exit_code is not None else "ran (exit status not recorded)")
    if claimed.exit_code is not None and run.exit_code is not None and claimed.exit_code != run.exit_code:
        return f"{said}, but {where} {status}" + (f": {error}" if error else "")
    if claimed.success:
        if failed:
            return f"{said}, but {where} {status}" + (f": {error}" if error else "")
        if _TRACEBACK in run.output:
            return f"{said}, but {where} {status} with a traceback in its output: {error or _TRACEBACK}"
    value = claimed.printed()
    if value is not None and not _shows(run.output, value):
        shown = _quote(run.output) if run.output.strip() else "(no output)"
        return (f"{said}, but {where} {status} and its output does not show {value!r}: "
                + (error or shown))
    return ""
