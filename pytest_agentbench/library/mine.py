"""``agentbench mine``: a canary from a real commit of a git repository.

The commit's parent is where the agent starts; the commit is what it should arrive at:

- ``repo/``: the parent commit's tree (read from git objects, never the working copy);
- ``prompt``: the commit message (or ``--prompt`` / ``--prompt-file``);
- ``hidden/``: the test files the commit added or modified, in the commit's version. A test file
  is ``test_*.py``, ``*_test.py``, ``conftest.py``, ``*_test.go``, ``*.test.js/ts(x)``,
  ``*.spec.js/ts(x)``, or any file under a ``tests/`` or ``test/`` directory;
- ``expect_changed`` and ``solution/``: the commit's other (non-test) files;
- ``verify.run``: the ``--check`` commands, or ``python -m pytest -q <the hidden test_*.py>``.

The result is then validated like ``agentbench validate --require-solution``: a commit whose tests
already pass at the parent (the null control passes) or whose own code does not pass them (the
reference fails) makes no canary, and nothing is written.

Git runs hardened (``workspace.git``: no hooks, no fsmonitor, no global config), and file contents
come from ``git cat-file``, which applies no filters: ``git archive`` or a checkout would run the
smudge/textconv commands a repository's own config can name. Paths from the trees are checked
before anything is written, so a crafted tree cannot write outside the canary directory.
"""

from __future__ import annotations

import argparse
import difflib
import glob
import re
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from pytest_agentbench.attempt.protect import needed_allowances
from pytest_agentbench.cli import UsageError
from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.library import toml_writer
from pytest_agentbench.library.validate import SANDBOXES, validate_canary
from pytest_agentbench.schemas.canary import TIERS, CanaryError, load_canary
from pytest_agentbench.trees.workspace import WorkspaceError, git, git_bytes

TEST_DIRS = {"tests", "test"}
PYTEST_FILES = ("test_*.py", "*_test.py")
OTHER_TEST_FILES = ("*_test.go", "*.test.js", "*.test.ts", "*.test.jsx", "*.test.tsx",
                    "*.spec.js", "*.spec.ts", "*.spec.jsx", "*.spec.tsx")
REGULAR, EXECUTABLE, SYMLINK, SUBMODULE = "100644", "100755", "120000", "160000"
# Default tier by the size of the non-test change (changed lines): small fixes are lite.
TIER_BY_LINES = ((30, "lite"), (150, "medium"))


class MineError(AgentbenchError):
    """The commit cannot become a canary; the message says why."""


def is_test_path(path: str) -> bool:
    parts = PurePosixPath(path).parts
    name = parts[-1]
    return (any(part in TEST_DIRS for part in parts[:-1]) or name == "conftest.py"
            or any(fnmatchcase(name, p) for p in PYTEST_FILES + OTHER_TEST_FILES))


@dataclass
class Entry:
    mode: str
    kind: str  # blob | commit (a submodule)
    oid: str


@dataclass
class MinedCanary:
    """Everything a canary directory needs, in memory; paths are POSIX and relative."""

    id: str
    tier: str
    prompt: str
    commit: str
    parent: str
    run: list[str]
    expect_changed: list[str]
    repo: dict[str, tuple[bytes, bool]] = field(default_factory=dict)  # path -> (content, executable)
    hidden: dict[str, bytes] = field(default_factory=dict)
    solution: dict[str, tuple[bytes, bool]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _ls_tree(repo: Path, commit: str) -> dict[str, Entry]:
    entries = {}
    for record in git("ls-tree", "-r", "-z", "--full-tree", commit, cwd=repo).split("\0"):
        if record:
            meta, path = record.split("\t", 1)
            mode, kind, oid = meta.split()
            entries[path] = Entry(mode, kind, oid)
    return entries


def _read_blobs(repo: Path, oids: set[str]) -> dict[str, bytes]:
    """All blobs in one ``cat-file --batch`` process: raw bytes, no filters applied."""
    order = sorted(oids)
    if not order:
        return {}
    output = git_bytes("cat-file", "--batch", cwd=repo, input="".join(f"{o}\n" for o in order).encode())
    blobs, position = {}, 0
    for oid in order:
        end = output.index(b"\n", position)
        header = output[position:end].split()
        if len(header) != 3 or header[1] != b"blob":
            raise MineError(f"object {oid} is not a blob: {output[position:end]!r}")
        size = int(header[2])
        blobs[oid] = output[end + 1:end + 1 + size]
        position = end + 1 + size + 1  # the content is followed by a newline
    return blobs


def _commit_info(repo: Path, commit: str) -> tuple[list[str], str]:
    """Parents and message, parsed from the raw object (``git log`` could run gpg via config)."""
    raw = git_bytes("cat-file", "commit", commit, cwd=repo)
    header, _, message = raw.partition(b"\n\n")
    parents, encoding = [], "utf-8"
    for line in header.split(b"\n"):
        if line.startswith(b"parent "):
            parents.append(line.split()[1].decode())
        elif line.startswith(b"encoding "):
            encoding = line.split(b" ", 1)[1].decode(errors="replace").strip()
    try:
        text = message.decode(encoding, errors="replace")
    except LookupError:
        text = message.decode("utf-8", errors="replace")
    return parents, text


def _safe_path(path: str) -> str:
    parts = PurePosixPath(path).parts
    if (not parts or path.startswith("/") or "\\" in path
            or any(p in ("..", ".") or p.lower() == ".git" for p in parts)):
        raise MineError(f"unsafe path in the tree: {path!r}")
    return path


def _is_binary(content: bytes) -> bool:
    return b"\0" in content[:8000]  # git's own heuristic


def default_id(repo: Path, commit: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", repo.resolve().name.lower()).strip("-") or "repo"
    return f"{name}-{commit[:8]}"


def _changed_lines(old: bytes, new: bytes) -> int:
    a = old.decode(errors="replace").splitlines()
    b = new.decode(errors="replace").splitlines()
    opcodes = difflib.SequenceMatcher(None, a, b).get_opcodes()
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in opcodes if tag != "equal")


def mine_commit(repo: Path, commit: str, *, canary_id: str | None = None, tier: str | None = None,
                prompt: str | None = None, checks: list[str] | None = None) -> MinedCanary:
    """Read a commit and its parent into a :class:`MinedCanary`; :class:`MineError` says why not."""
    try:
        sha = git("rev-parse", "--verify", "--end-of-options", f"{commit}^{{commit}}", cwd=repo).strip()
    except WorkspaceError as exc:
        raise MineError(f"{commit!r} is not a commit of {repo}: {exc}") from None
    parents, message = _commit_info(repo, sha)
    if not parents:
        raise MineError(f"{sha[:12]} is a root commit: there is no parent to start from")
    if len(parents) > 1:
        raise MineError(f"{sha[:12]} is a merge: its change has no single starting point")
    parent = parents[0]
    before, after = _ls_tree(repo, parent), _ls_tree(repo, sha)
    changed = sorted(p for p in after if p not in before or before[p].oid != after[p].oid
                     or before[p].mode != after[p].mode)
    deleted = sorted(p for p in before if p not in after)
    if any(not is_test_path(p) for p in deleted):
        gone = [p for p in deleted if not is_test_path(p)]
        raise MineError(f"the commit deletes or renames non-test files {gone}: "
                        "a canary's hidden files and solution can only add or modify")
    for path in changed:
        entry = after[path]
        if entry.mode == SUBMODULE or (path in before and before[path].mode == SUBMODULE):
            raise MineError(f"the commit changes the submodule {path!r}")
        if entry.mode == SYMLINK or (path in before and before[path].mode == SYMLINK):
            raise MineError(f"the commit changes the symbolic link {path!r}")
    tests = [p for p in changed if is_test_path(p)]
    # A mode-only change (chmod +x) is no change an overlay of file contents can reproduce.
    code = [p for p in changed if not is_test_path(p) and (p not in before or before[p].oid != after[p].oid)]
    if not code:
        raise MineError("the commit changes no non-test file: there is nothing for the agent to do")
    if not tests and not checks:
        raise MineError("the commit changes no test file: pass --check CMD to say how to verify it")
    if not checks:
        other = [p for p in tests if any(fnmatchcase(PurePosixPath(p).name, g) for g in OTHER_TEST_FILES)]
        targets = [p for p in tests if any(fnmatchcase(PurePosixPath(p).name, g) for g in PYTEST_FILES)]
        if other:
            raise MineError(f"the commit's tests {other} are not Python: pass --check CMD "
                            "(the command that runs them)")
        if not targets:
            raise MineError(f"none of the commit's test files {tests} is a test_*.py or *_test.py "
                            "for pytest: pass --check CMD")
        checks = ["python -m pytest -q " + " ".join(shlex.quote(p) for p in targets)]
    notes = [f"test file {p} deleted by the commit stays in repo/" for p in deleted]
    kept: dict[str, Entry] = {}
    for path, entry in before.items():
        if entry.mode == SUBMODULE:
            notes.append(f"submodule {path} left out of repo/")
        elif entry.mode == SYMLINK:
            # Copying a canary follows links: one pointing outside would copy a host file.
            notes.append(f"symbolic link {path} left out of repo/")
        else:
            kept[_safe_path(path)] = entry
    for path in tests + code:
        _safe_path(path)
    blobs = _read_blobs(repo, {e.oid for e in kept.values()} | {after[p].oid for p in tests + code})
    binary = [p for p in tests + code if _is_binary(blobs[after[p].oid])
              or (p in kept and _is_binary(blobs[kept[p].oid]))]
    if binary:
        raise MineError(f"the commit changes binary files {binary}")
    if prompt is None:
        prompt = message.strip()
        if not prompt:
            raise MineError("the commit message is empty: pass --prompt or --prompt-file")
    if tier is None:
        lines = sum(_changed_lines(blobs[kept[p].oid] if p in kept else b"", blobs[after[p].oid])
                    for p in code)
        tier = next((name for limit, name in TIER_BY_LINES if lines <= limit), "heavy")
    return MinedCanary(
        id=canary_id or default_id(repo, sha), tier=tier, prompt=prompt.strip() + "\n",
        commit=sha, parent=parent, run=list(checks), expect_changed=[glob.escape(p) for p in code],
        repo={p: (blobs[e.oid], e.mode == EXECUTABLE) for p, e in kept.items()},
        hidden={p: blobs[after[p].oid] for p in tests},
        solution={p: (blobs[after[p].oid], after[p].mode == EXECUTABLE) for p in code},
        notes=notes,
    )


def canary_toml(mined: MinedCanary) -> str:
    verify: dict = {"run": mined.run, "expect_changed": mined.expect_changed}
    allow = needed_allowances(list(mined.solution), mined.run, mined.repo, list(mined.hidden))
    if allow:
        verify["allow_changed"] = [glob.escape(p) for p in allow]  # the commit itself changes them
    data = {"id": mined.id, "tier": mined.tier, "tags": ["mined"], "prompt": mined.prompt,
            "verify": verify}
    return (f"# Mined by `agentbench mine` from commit {mined.commit} (parent {mined.parent}).\n"
            + toml_writer.dumps(data))


def write_canary(mined: MinedCanary, directory: Path) -> Path:
    """Write the canary directory; returns its ``canary.toml`` (checked to load)."""
    def put(path: Path, content: bytes, executable: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        if executable:
            path.chmod(0o755)

    (directory / "repo").mkdir(parents=True)
    for relative, (content, executable) in mined.repo.items():
        put(directory / "repo" / relative, content, executable)
    for relative, content in mined.hidden.items():
        put(directory / "hidden" / relative, content)
    for relative, (content, executable) in mined.solution.items():
        put(directory / "solution" / relative, content, executable)
    toml = directory / "canary.toml"
    toml.write_text(canary_toml(mined), encoding="utf-8")
    canary = load_canary(toml)  # CanaryError: e.g. an --id the format does not allow
    if (canary.prompt, canary.verify.run) != (mined.prompt, mined.run):
        raise CanaryError(f"{toml}: the TOML writer did not round-trip the prompt or the checks")
    return toml


# -- the subcommand --------------------------------------------------------------------------------

def cmd_mine(args: argparse.Namespace) -> int:
    repo: Path = args.repo
    if not repo.is_dir():
        raise UsageError(f"no such directory: {repo}")
    prompt = args.prompt
    if args.prompt_file is not None:
        try:
            prompt = args.prompt_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read --prompt-file: {exc}") from None
    if prompt is not None and not prompt.strip():
        raise UsageError("the prompt is empty")
    try:
        mined = mine_commit(repo, args.commit, canary_id=args.id, tier=args.tier, prompt=prompt,
                            checks=args.check)
    except (MineError, WorkspaceError) as exc:
        print(f"agentbench mine: refused: {exc}", file=sys.stderr)
        return 1
    out: Path = args.out or Path("canaries") / "mined" / mined.id
    if out.exists() and not args.force:
        raise UsageError(f"{out} exists (pass --force to replace it)")
    with tempfile.TemporaryDirectory(prefix="agentbench-mine-") as tmp:
        staging = Path(tmp) / mined.id
        try:
            toml = write_canary(mined, staging)
        except CanaryError as exc:
            raise UsageError(str(exc)) from None
        print(f"validating {mined.id} (commit {mined.commit[:12]})...", file=sys.stderr, flush=True)
        result = validate_canary(toml, sandbox=args.sandbox, require_solution=True)
        if not result.ok:
            print(f"agentbench mine: refused: {mined.commit[:12]} makes no canary "
                  f"(null control {result.null_control}, reference {result.reference}):", file=sys.stderr)
            for problem in result.problems:
                print(f"  {problem}", file=sys.stderr)
            if result.null_control == "PASSES":
                print("  (the commit's tests already pass at its parent: they do not test the change)",
                      file=sys.stderr)
            return 1
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(out))
    for note in mined.notes + result.warnings:
        print(f"note: {note}", file=sys.stderr)
    print(f"mined {mined.id} ({mined.tier}) from {mined.commit[:12]} -> {out}")
    print(f"  repo/: {len(mined.repo)} files at {mined.parent[:12]}; hidden/: {', '.join(mined.hidden) or '-'}; "
          f"solution/: {', '.join(mined.solution)}")
    print(f"  verify.run: {mined.run}; validated in {result.seconds:.1f} s "
          "(null control fails, reference passes)")
    return 0


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("mine", help="make a canary from a commit (its tests, its fix)")
    parser.add_argument("repo", type=Path, metavar="REPO", help="a git repository")
    parser.add_argument("commit", metavar="COMMIT", help="the commit (a fix with its tests)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="where the canary goes (default: canaries/mined/ID)")
    parser.add_argument("--id", help="canary id (default: REPO's name and the short commit id)")
    parser.add_argument("--tier", choices=TIERS,
                        help="default: by the size of the change (<=30 lines lite, <=150 medium)")
    prompt = parser.add_mutually_exclusive_group()
    prompt.add_argument("--prompt", metavar="TEXT", help="the task (default: the commit message)")
    prompt.add_argument("--prompt-file", type=Path, metavar="F", help="read the task from F")
    parser.add_argument("--check", action="append", metavar="CMD",
                        help="a verify.run command (repeatable; default for Python: pytest on the "
                             "commit's test_*.py files)")
    parser.add_argument("--sandbox", choices=SANDBOXES, default="auto",
                        help="where validation runs the checks (default: auto)")
    parser.add_argument("--force", action="store_true", help="replace an existing --out directory")
    parser.set_defaults(func=cmd_mine)
