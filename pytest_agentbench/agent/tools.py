"""The tools a model sees (names and arguments are a contract) and their
implementations, confined to the attempt's worktree.

Every failure here becomes a :class:`ToolError` whose text goes back to the model as the tool
result; nothing a model sends may raise out of the loop.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_agentbench.agent.extra_tools import EXTRA_ALIASES, EXTRA_IMPLEMENTATIONS, EXTRA_SCHEMAS
from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.sandbox.commands import Sandbox, run_command

MAX_READ_CHARS = 60_000
MAX_READ_BYTES = 8 * 2**20  # files above this are refused whole (read_file) or skipped (grep)
MAX_LISTING = 500
MAX_GREP_LINES = 200
DEFAULT_SHELL_TIMEOUT = 60.0
MAX_SHELL_TIMEOUT = 600.0
# A lone surrogate can arrive in a model's JSON ("\ud800"). U+DC80..U+DCFF stand for bytes that
# are not UTF-8 (Python reads such file names and file bytes that way, and writes them back as the
# bytes); any other is no character at all: no file can hold it, no path or command name it.
_UNENCODABLE = re.compile("[\ud800-\udc7f]")


class ToolError(AgentbenchError):
    """A tool call that could not be carried out; the message is shown to the model."""


def _no_deadline() -> float:
    return float("inf")


@dataclass
class ToolContext:
    root: Path  # the worktree; every path the model names is relative to it
    env: dict[str, str]
    # The attempt's time left. The AgentLoop that runs the tools owns the deadline and sets this
    # when a try starts; whoever builds the context leaves it alone.
    remaining_seconds: Callable[[], float] = _no_deadline
    sandbox: Sandbox | None = None  # None: the process tier
    # (root, its real path): resolved once, not on every tool call (two Path.resolve() calls
    # were a quarter of the harness's time per turn); a new root is resolved again.
    _real_root: tuple[Path, str] | None = field(default=None, init=False, repr=False, compare=False)

    def real_root(self) -> str:
        """The worktree's path with every symlink resolved."""
        if self._real_root is None or self._real_root[0] is not self.root:
            self._real_root = (self.root, os.path.realpath(self.root))
        return self._real_root[1]

    def end_commands(self) -> None:
        """No command runs on: the persistent jail (if any) ends here; the next command starts one."""
        if self.sandbox is not None:
            self.sandbox.close()


def _string(description: str) -> dict:
    return {"type": "string", "description": description}


def _int(description: str) -> dict:
    return {"type": "integer", "minimum": 1, "description": description}


def _object(properties: dict, required: list[str]) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


SCHEMAS: dict[str, tuple[str, dict]] = {
    "read_file": (
        "Read a text file of the repository. Optional 1-based inclusive line range.",
        _object(
            {
                "path": _string("File path relative to the repository root."),
                "start_line": _int("First line to return (1-based)."),
                "end_line": _int("Last line to return (inclusive)."),
            },
            ["path"],
        ),
    ),
    "write_file": (
        "Create or overwrite a file with the given content.",
        _object(
            {
                "path": _string("File path relative to the repository root."),
                "content": _string("The complete new content of the file."),
            },
            ["path", "content"],
        ),
    ),
    "edit_file": (
        "Replace the exact text `old` with `new` in a file. `old` must occur exactly once.",
        _object(
            {
                "path": _string("File path relative to the repository root."),
                "old": _string("Existing text to replace (must match exactly once)."),
                "new": _string("Replacement text."),
            },
            ["path", "old", "new"],
        ),
    ),
    "apply_patch": (
        "Apply a unified diff to the repository. All hunks apply or none do.",
        _object({"patch": _string("A unified diff (as produced by `git diff`).")}, ["patch"]),
    ),
    "list_dir": (
        "List the entries of a directory (directories end with '/').",
        _object({"path": _string("Directory relative to the repository root; default '.'.")}, []),
    ),
    "glob": (
        "Find files whose repository-relative path matches a glob pattern such as 'src/**/*.py'.",
        _object({"pattern": _string("Glob pattern.")}, ["pattern"]),
    ),
    "grep": (
        "Search files for a regular expression; prints path:line:text for each match.",
        _object(
            {
                "pattern": _string("Python regular expression."),
                "path": _string("File or directory to search; default '.'."),
            },
            ["pattern"],
        ),
    ),
    "shell": (
        "Run a shell command at the repository root and return its exit code and output.",
        _object(
            {
                "command": _string("The command, run with /bin/sh -c."),
                "timeout": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "description": f"Seconds before the command is killed (default "
                    f"{DEFAULT_SHELL_TIMEOUT:g}).",
                },
            },
            ["command"],
        ),
    ),
}
TOOL_NAMES: frozenset[str] = frozenset(SCHEMAS)
# What a model is offered when no tools list says otherwise. The tools of extra_tools.py are
# offered only when a list names them (or, for escalate, the canary asks for it).
DEFAULT_TOOLS: tuple[str, ...] = tuple(SCHEMAS)
OPT_IN_TOOLS: frozenset[str] = frozenset(EXTRA_SCHEMAS)
ALL_SCHEMAS: dict[str, tuple[str, dict]] = {**SCHEMAS, **EXTRA_SCHEMAS}

# Names models commonly use for our tools (from Claude Code, Aider, OpenHands, SWE-agent...).
TOOL_ALIASES: dict[str, str] = {
    "read": "read_file", "cat": "read_file", "open_file": "read_file", "view": "read_file",
    "write": "write_file", "create_file": "write_file", "save_file": "write_file",
    "edit": "edit_file", "replace_in_file": "edit_file", "str_replace": "edit_file",
    "str_replace_editor": "edit_file", "patch": "apply_patch", "patch_files": "apply_patch",
    "ls": "list_dir", "list_files": "list_dir", "list_directory": "list_dir",
    "find": "glob", "find_files": "glob", "search": "grep", "search_files": "grep",
    "search_text": "grep",  # the localcode names
    "bash": "shell", "sh": "shell", "run": "shell", "exec": "shell", "execute": "shell",
    "run_command": "shell", "execute_command": "shell", "terminal": "shell",
}
ARGUMENT_ALIASES: dict[str, str] = {
    "file_path": "path", "filepath": "path", "filename": "path", "file": "path",
    "directory": "path", "dir": "path",
    "cmd": "command", "text": "content", "contents": "content",
    "old_str": "old", "old_string": "old", "old_text": "old",
    "new_str": "new", "new_string": "new", "new_text": "new",
    "diff": "patch", "regex": "pattern", "query": "pattern",
}


def tool_definitions(names: list[str] | None = None) -> list[dict]:
    """OpenAI ``tools`` entries for the given tool names (default: the default set, in a stable
    order)."""
    selected = names or list(DEFAULT_TOOLS)
    return [
        {
            "type": "function",
            "function": {"name": name, "description": ALL_SCHEMAS[name][0],
                         "parameters": ALL_SCHEMAS[name][1]},
        }
        for name in selected
    ]


def canonical_tool_name(name: str) -> str | None:
    if name in ALL_SCHEMAS:
        return name
    key = name.strip().lower()
    return TOOL_ALIASES.get(key) or EXTRA_ALIASES.get(key)


def tool_list(names: list[str] | None) -> list[str] | None:
    """A ``tools`` list (a canary's, a pipeline phase's, a registry model's) as the loop offers
    it: each name the loop accepts from a model — a tool's own name or an alias — becomes the tool
    it stands for, in the order first named, each once. Any other name raises ValueError naming
    every accepted one, so all three lists accept the same names and none fails mid-run. None
    (no list given) stays None."""
    if names is None:
        return None
    tools: list[str] = []
    unknown: list[str] = []
    for name in names:
        tool = canonical_tool_name(name)
        if tool is None:
            unknown.append(name)
        elif tool not in tools:
            tools.append(tool)
    if unknown:
        import difflib

        every_alias = {**TOOL_ALIASES, **EXTRA_ALIASES}
        accepted = [*ALL_SCHEMAS, *every_alias]
        guesses = [match for name in unknown for match in difflib.get_close_matches(name, accepted, n=1)]
        guess = f" (did you mean {', '.join(repr(g) for g in guesses)}?)" if guesses else ""
        aliases = {tool: [alias for alias, target in every_alias.items() if target == tool]
                   for tool in ALL_SCHEMAS}

        def listed(tools: Any) -> str:
            return ", ".join(f"{tool} ({', '.join(aliases[tool])})" if aliases[tool] else tool
                             for tool in sorted(tools))

        raise ValueError(f"unknown tool(s) {unknown}{guess}; known: {listed(SCHEMAS)}; offered only "
                         f"when a tools list names them: {listed(OPT_IN_TOOLS)}")
    return tools


def normalize_arguments(arguments: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Map argument aliases (``file_path`` → ``path``); report whether any alias was used."""
    normalized: dict[str, Any] = {}
    aliased = False
    for key, value in arguments.items():
        target = ARGUMENT_ALIASES.get(key, key)
        aliased |= target != key
        normalized.setdefault(target, value)
    return normalized, aliased


# --- path confinement -------------------------------------------------------------------------


def encodable(what: str, text: str) -> str:
    """``text``, or a ToolError when it holds a lone surrogate that no encoding can write."""
    found = _UNENCODABLE.search(text)
    if found:
        raise ToolError(f"{what} holds a lone surrogate (\\u{ord(found.group()):04x}, character "
                        f"{found.start() + 1}), which is not a character: nothing was done")
    return text


def resolve_path(ctx: ToolContext, raw: str, *, must_exist: bool = False) -> Path:
    """Map a model-given path into the worktree; reject escapes and anything under ``.git``.

    Symlinks are followed (as ``Path.resolve()`` does), so a link pointing out of the worktree is
    caught too.
    """
    if not isinstance(raw, str) or "\x00" in raw:
        raise ToolError("path must be a string")
    encodable("the path", raw)
    text = raw.strip() or "."
    if os.path.isabs(text) or text.startswith("~"):
        raise ToolError(f"absolute paths are not allowed: {raw!r}; use a path relative to the repository root")
    root = ctx.real_root()
    plain = _plain_path(root, text)
    if plain is None:  # "..", or a symlink on the way: resolve it in full
        target = (Path(root) / text).resolve()
        if target != Path(root) and Path(root) not in target.parents:
            raise ToolError(f"path escapes the repository: {raw!r}")
        first = target.relative_to(root).parts[:1]
        exists = target.exists() if must_exist else True
    else:
        target_text, first, exists = plain
        target = Path(target_text)
    if first == (".git",):
        raise ToolError(f"access to .git is not allowed: {raw!r}")
    if must_exist and not exists:
        raise ToolError(f"no such file or directory: {raw!r}")
    return target


def _plain_path(root: str, text: str) -> tuple[str, tuple[str, ...], bool] | None:
    """``(real path, its first component below the root, whether it exists)`` of ``text`` under
    ``root`` when no component is ``..`` or a symlink — what ``resolve()`` would give, from one
    ``lstat`` per component below the root instead of every component from ``/`` and a ``stat``;
    None for anything else. A component that cannot be looked up (missing, not a directory) ends
    the lookups: nothing below it can exist, let alone be a link."""
    parts = [part for part in text.split("/") if part and part != "."]
    if ".." in parts:
        return None
    path, exists = root.rstrip("/"), True
    for part in parts:
        path = f"{path}/{part}"
        if exists:
            try:
                mode = os.lstat(path).st_mode
            except (FileNotFoundError, NotADirectoryError):
                exists = False
                continue
            except OSError:  # e.g. a name too long: let resolve() say what it says
                return None
            if stat.S_ISLNK(mode):
                return None
    return path or "/", tuple(parts[:1]), exists or not parts


def _relative(ctx: ToolContext, path: Path) -> str:
    return path.relative_to(ctx.real_root()).as_posix() or "."


def _read_text(path: Path, errors: str = "replace") -> str:
    """``errors="surrogateescape"`` when the text is written back: bytes that are not UTF-8
    (a Latin-1 file) then survive an edit unchanged instead of becoming U+FFFD."""
    try:
        # One open, fstat and read: is_dir(), stat() and read_bytes() were a fifth of a turn's
        # harness time for a small file.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except PermissionError:
        fd = -1  # e.g. a directory without read permission: say what it is, as below
    try:
        st = os.fstat(fd) if fd >= 0 else path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise ToolError(f"{path.name} is a directory; use list_dir")
        if st.st_size > MAX_READ_BYTES:
            raise ToolError(f"{path.name} is {st.st_size} bytes, too large to read whole; look at parts of it "
                            "with grep or shell (head, sed -n)")
        if fd < 0:
            data = path.read_bytes()  # raises the PermissionError
        else:
            chunks = []
            while chunk := os.read(fd, max(st.st_size + 1, 1 << 16)):
                chunks.append(chunk)
            data = b"".join(chunks)
    finally:
        if fd >= 0:
            os.close(fd)
    if b"\x00" in data[:8192]:
        raise ToolError(f"{path.name} is a binary file ({len(data)} bytes)")
    return data.decode("utf-8", errors=errors)


def _umask() -> int:
    try:  # reading it via os.umask() would briefly change it for every thread
        status = Path("/proc/self/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Umask:")), 8)
    except (OSError, StopIteration, ValueError):
        return 0o022


def _atomic_write(path: Path, content: str) -> None:
    """Write via a temporary file and a rename: a reader never sees half a file. The file keeps
    its mode (an executable script stays executable); a new one gets the umask's, not mkstemp's 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".agentbench-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content.encode("utf-8", errors="surrogateescape"))
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- implementations --------------------------------------------------------------------------


def read_file(ctx: ToolContext, path: str, start_line: int | None = None, end_line: int | None = None) -> str:
    target = resolve_path(ctx, path, must_exist=True)
    text = _read_text(target)
    if start_line is not None or end_line is not None:
        lines = text.splitlines(keepends=True)
        start = (start_line or 1) - 1
        end = end_line or len(lines)
        if start >= len(lines) and lines:
            raise ToolError(f"start_line {start_line} is past the end ({len(lines)} lines)")
        text = "".join(lines[start:end])
    if len(text) > MAX_READ_CHARS:
        text = text[:MAX_READ_CHARS] + f"\n... [truncated: file has {len(text)} characters; use start_line/end_line]"
    return text if text else "(empty file)"


def batch_read(ctx: ToolContext, paths: list[str], start_line: int | None = None,
               end_line: int | None = None) -> str:
    """Each file as read_file returns it, under a header; a file that cannot be read says why in
    its own section (one bad path does not cost the others). The whole result is bounded like
    one read_file: files past the bound are named, not read."""
    sections: list[str] = []
    used = failed = 0
    for number, path in enumerate(paths):
        if used >= MAX_READ_CHARS:
            rest = ", ".join(paths[number:])
            sections.append(f"... [not read, the output limit of {MAX_READ_CHARS} characters was "
                            f"reached: {rest}; read them in another call]")
            break
        try:
            body = read_file(ctx, path, start_line, end_line)
        except ToolError as exc:
            body, failed = f"Error: {exc}", failed + 1
        except (OSError, ValueError, UnicodeError) as exc:
            body, failed = f"Error: {exc.__class__.__name__}: {exc}", failed + 1
        if used + len(body) > MAX_READ_CHARS:
            body = body[:MAX_READ_CHARS - used] + "\n... [truncated: the output limit was reached]"
        used += len(body)
        sections.append(f"==> {path} <==\n{body}")
    text = "\n\n".join(sections)
    if failed == len(paths):
        raise ToolError(f"no file could be read:\n{text}")
    return text


def write_file(ctx: ToolContext, path: str, content: str) -> str:
    target = resolve_path(ctx, path)
    if target.is_dir():
        raise ToolError(f"{path!r} is a directory")
    encodable("content", content)
    existed = target.exists()
    _atomic_write(target, content)
    return f"{'Overwrote' if existed else 'Created'} {_relative(ctx, target)} ({len(content)} characters)"


def edit_file(ctx: ToolContext, path: str, old: str, new: str) -> str:
    target = resolve_path(ctx, path, must_exist=True)
    text = _read_text(target, errors="surrogateescape")
    if not old:
        raise ToolError("`old` must not be empty")
    count = text.count(old)
    if count == 0:
        raise ToolError(f"`old` text not found in {path}; read the file and copy the text exactly")
    if count > 1:
        raise ToolError(f"`old` text occurs {count} times in {path}; include more context to make it unique")
    encodable("`new`", new)
    _atomic_write(target, text.replace(old, new, 1))
    return f"Edited {_relative(ctx, target)}"


def apply_patch(ctx: ToolContext, patch: str) -> str:
    if not patch.strip():
        raise ToolError("empty patch")
    if not patch.endswith("\n"):
        patch += "\n"
    encodable("the patch", patch)
    base = ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "apply"]
    # --check first: git apply is atomic per invocation, but checking gives a cleaner message.
    for extra in (["--check"], []):
        try:
            proc = subprocess.run(
                [*base, *extra, "--recount", "-"],
                cwd=ctx.root, input=patch.encode("utf-8", "surrogateescape"), capture_output=True,
                env=ctx.env, timeout=60,
            )
        except subprocess.TimeoutExpired:
            step = "checking" if extra else "applying"
            raise ToolError(f"git apply timed out after 60 s while {step} the patch; "
                            "read the files to see their state") from None
        if proc.returncode != 0:
            message = proc.stderr.decode("utf-8", errors="replace").strip()
            raise ToolError(f"patch does not apply (nothing was changed):\n{message}")
    return "Patch applied"


def list_dir(ctx: ToolContext, path: str = ".") -> str:
    target = resolve_path(ctx, path, must_exist=True)
    if not target.is_dir():
        raise ToolError(f"{path!r} is not a directory")
    entries = sorted(
        (entry.name + ("/" if entry.is_dir() else "") for entry in target.iterdir() if entry.name != ".git"),
    )
    if len(entries) > MAX_LISTING:
        entries = entries[:MAX_LISTING] + [f"... ({len(entries) - MAX_LISTING} more)"]
    return "\n".join(entries) if entries else "(empty directory)"


def _walk_files(ctx: ToolContext, start: Path):
    root = Path(ctx.real_root())
    if start.is_file():
        yield start
        return
    for dirpath, dirnames, filenames in os.walk(start):
        dirnames[:] = sorted(d for d in dirnames if d != ".git" and d != "__pycache__")
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if root in path.resolve().parents:
                yield path


def glob(ctx: ToolContext, pattern: str) -> str:
    if os.path.isabs(pattern) or ".." in Path(pattern).parts:
        raise ToolError("pattern must be relative to the repository root")
    root = Path(ctx.real_root())
    matches = []
    for path in _walk_files(ctx, root):
        relative = path.relative_to(root).as_posix()
        if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(relative, pattern.replace("**/", "")):
            matches.append(relative)
    if not matches:
        return "(no matches)"
    if len(matches) > MAX_LISTING:
        matches = matches[:MAX_LISTING] + [f"... ({len(matches) - MAX_LISTING} more)"]
    return "\n".join(matches)


def grep(ctx: ToolContext, pattern: str, path: str = ".") -> str:
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ToolError(f"invalid regular expression: {exc}") from None
    start = resolve_path(ctx, path, must_exist=True)
    root = Path(ctx.real_root())
    hits: list[str] = []
    for file in _walk_files(ctx, start):
        try:
            if file.stat().st_size > MAX_READ_BYTES:
                continue  # a log or data dump: not worth holding in memory to search
            data = file.read_bytes()
        except OSError:
            continue
        if b"\x00" in data[:8192]:
            continue
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            if regex.search(line):
                hits.append(f"{file.relative_to(root).as_posix()}:{number}:{line[:300]}")
                if len(hits) >= MAX_GREP_LINES:
                    return "\n".join(hits) + f"\n... (stopped after {MAX_GREP_LINES} matches)"
    return "\n".join(hits) if hits else "(no matches)"


def shell(ctx: ToolContext, command: str, timeout: float | None = None) -> str:
    if not command.strip():
        raise ToolError("empty command")
    encodable("the command", command)
    remaining = ctx.remaining_seconds()
    if remaining <= 0:
        raise ToolError("time budget exhausted; the command was not run")
    # Never past the attempt's deadline (a floor here would let a command outlive the budget).
    limit = min(timeout or DEFAULT_SHELL_TIMEOUT, MAX_SHELL_TIMEOUT, remaining)
    return run_command(command, ctx.root, limit, ctx.env, sandbox=ctx.sandbox).describe()


IMPLEMENTATIONS: dict[str, Callable[..., str]] = {
    "read_file": read_file,
    "write_file": write_file,
    "edit_file": edit_file,
    "apply_patch": apply_patch,
    "list_dir": list_dir,
    "glob": glob,
    "grep": grep,
    "shell": shell,
}
assert set(IMPLEMENTATIONS) == set(SCHEMAS)


@dataclass(frozen=True)
class Tool:
    """One tool the model can call: what it sees (name, description, JSON schema of the
    arguments) and what runs (``function(context, **arguments) -> str``; raise :class:`ToolError`
    for an error the model should read). Custom tools come from ``pytest_agentbench_tools``."""

    name: str
    description: str
    parameters: dict
    function: Callable[..., str]

    def definition(self) -> dict:
        return {"type": "function",
                "function": {"name": self.name, "description": self.description,
                             "parameters": self.parameters}}


def builtin_tools() -> dict[str, Tool]:
    """Every built-in tool, the opt-in ones included (what a loop offers is its own choice)."""
    implementations = {**IMPLEMENTATIONS, **EXTRA_IMPLEMENTATIONS, "batch_read": batch_read}
    return {name: Tool(name, description, parameters, implementations[name])
            for name, (description, parameters) in ALL_SCHEMAS.items()}
