"""``agentbench import exercism``: Exercism practice exercises as canaries.

The conversion follows Aider's polyglot benchmark: the prompt is the exercise's
instructions plus Aider's closing lines naming the files to modify; the tests stay hidden until the
agent has finished, with Exercism's skip markers removed so that every test runs; the reference
solution (``files.example``) becomes ``solution/`` so that ``agentbench validate`` can prove the
canary. Each track's conventions (test command, toolchain, skips) live in ``exercism_tracks``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pytest_agentbench.attempt.protect import needed_allowances
from pytest_agentbench.cli import UsageError
from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.library.exercism_tracks import TRACKS, Options, Track, track_for
from pytest_agentbench.library.toml_writer import dumps
from pytest_agentbench.schemas.canary import TIERS, CanaryError, load_canary

CONFIG = ".meta/config.json"
# Aider's instructions_addendum (benchmark/prompts.py), with paths instead of bare file names:
# an agent that explores the repository needs to know where the files are.
ADDENDUM = (
    "####\n\n"
    "Use the above instructions to modify the supplied files: {files}\n"
    "Don't change the names of existing functions or classes, as they may be referenced from other"
    " code like unit tests, etc.\n"
    "Only use standard libraries, don't suggest installing any packages.\n"
)
# Never part of the starting repo: build output and caches a local test run may have left.
LEFTOVERS = {"node_modules", "target", "build", "__pycache__", ".pytest_cache", "bin", "obj"}


class ExerciseError(AgentbenchError):
    """This exercise cannot be imported; the message names the file and the field."""


@dataclass
class Exercise:
    directory: Path
    track: Track
    solution: list[str]  # what the agent edits (build files such as Cargo.toml left out)
    tests: list[str]
    editor: list[str]  # read-only helpers of the tests (Go's cases_test.go): repo/ and hidden/
    examples: dict[str, str]  # reference file (relative to the exercise) -> solution path
    prompt: str
    notes: list[str] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return self.directory.name


@dataclass
class Outcome:
    name: str  # <language>/<slug>, or the directory when the language is unknown
    status: str  # imported, skipped, failed
    detail: str = ""
    notes: list[str] = field(default_factory=list)


# -- finding exercises ------------------------------------------------------------------------------

def _is_exercise(path: Path) -> bool:
    return path.is_dir() and ((path / ".meta").is_dir() or (path / ".docs").is_dir())


def find_exercises(root: Path) -> list[Path]:
    """One exercise, a track's ``exercises/practice/`` (or the track itself), or a polyglot root
    (``<language>/exercises/practice/<slug>``). Concept exercises are not practice exercises:
    they have no ``files.example`` and are left alone."""
    if _is_exercise(root):
        return [root]
    found: list[Path] = []
    for parent in [root, root / "exercises" / "practice", *sorted(root.glob("*/exercises/practice"))]:
        if parent.is_dir():
            found += sorted(child for child in parent.iterdir() if _is_exercise(child))
    return found


def _path_language(directory: Path) -> str | None:
    """The language a polyglot/track layout names (``<lang>/exercises/practice/<slug>``)."""
    parts = directory.resolve().parts
    if len(parts) >= 4 and parts[-3:-1] == ("exercises", "practice"):
        return parts[-4]
    return None


# -- reading one exercise ---------------------------------------------------------------------------

def _paths(config: dict, name: str, required: bool) -> list[str]:
    files = config.get("files")
    if not isinstance(files, dict):
        raise ExerciseError(f"{CONFIG}: field 'files': missing or not an object")
    paths = files.get(name, [])
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise ExerciseError(f"{CONFIG}: field 'files.{name}': must be a list of file paths")
    if required and not paths:
        raise ExerciseError(f"{CONFIG}: field 'files.{name}': empty")
    for path in paths:
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts:
            # The paths decide what is copied where: nothing outside the exercise.
            raise ExerciseError(f"{CONFIG}: field 'files.{name}': {path!r} leaves the exercise")
    return [pure_path.as_posix() for pure_path in map(PurePosixPath, paths)]


def _example_source(directory: Path, path: str) -> str:
    # Older track configs name examples relative to .meta/ ("example.h" for .meta/example.h).
    for candidate in (path, f".meta/{path}"):
        if (directory / candidate).is_file():
            return candidate
    raise ExerciseError(f"{CONFIG}: field 'files.example': {path} does not exist")


def map_examples(examples: list[str], solution: list[str]) -> tuple[dict[str, str], list[str]]:
    """Which solution file each reference file replaces: (mapping, notes on guesses).

    Java mirrors the tree (``.meta/src/reference/java/X.java`` -> ``src/main/java/X.java``);
    otherwise the same file name wins; otherwise the file extension, in config order - the
    only guess, and the notes say so when more than one file could have matched.
    """
    mapping: dict[str, str] = {}
    notes: list[str] = []
    left = list(solution)
    pending = []
    for example in examples:
        name = PurePosixPath(example).name
        if example.startswith(".meta/src/reference/"):
            target = "src/main/" + example.removeprefix(".meta/src/reference/")
        else:
            target = next((s for s in left if PurePosixPath(s).name == name), "")
        if not target:
            pending.append(example)
            continue
        mapping[example] = target
        if target in left:
            left.remove(target)
    for example in pending:
        suffix = PurePosixPath(example).suffix
        candidates = [s for s in left if PurePosixPath(s).suffix == suffix]
        if not candidates:
            raise ExerciseError(f"{CONFIG}: field 'files.example': no solution file with the"
                                f" extension of {example} to put it on")
        rivals = [p for p in pending if PurePosixPath(p).suffix == suffix]
        if len(candidates) > 1 or len(rivals) > 1:
            notes.append(f"guessed that {example} is the reference for {candidates[0]}"
                         " (by extension and order)")
        mapping[example] = candidates[0]
        left.remove(candidates[0])
    return mapping, notes


def _read_text(directory: Path, relative: str) -> str | None:
    path = directory / relative
    if not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExerciseError(f"{relative}: cannot read: {exc}") from None


def read_exercise(directory: Path) -> Exercise:
    text = _read_text(directory, CONFIG)
    if text is None:
        raise ExerciseError(f"{CONFIG}: missing")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExerciseError(f"{CONFIG}: invalid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ExerciseError(f"{CONFIG}: not a JSON object")
    solution = _paths(config, "solution", required=True)
    tests = _paths(config, "test", required=True)
    editor = _paths(config, "editor", required=False)
    examples = [_example_source(directory, p) for p in _paths(config, "example", required=False)]
    track = track_for(tests)
    if track is None:
        raise ExerciseError(f"{CONFIG}: field 'files.test': no supported language for {tests}"
                            f" (supported: {', '.join(TRACKS)})")
    for name, paths in (("solution", solution), ("test", tests), ("editor", editor)):
        for path in paths:
            if not (directory / path).is_file():
                raise ExerciseError(f"{CONFIG}: field 'files.{name}': {path} does not exist")
    # Aider never offers build files for editing even where Exercism lists them (Rust's
    # Cargo.toml): they stay in the repo, unnamed in the prompt and outside expect_changed.
    editable = [p for p in solution if PurePosixPath(p).name not in track.build_files]
    if not editable:
        raise ExerciseError(f"{CONFIG}: field 'files.solution': only build files {solution}")
    mapping, notes = map_examples(examples, editable)
    if not examples:
        notes.append("no files.example: imported without a reference solution")
    parts = []
    for doc in (".docs/introduction.md", ".docs/instructions.md", ".docs/instructions.append.md"):
        content = _read_text(directory, doc)
        if content is None and doc == ".docs/instructions.md":
            raise ExerciseError(f"{doc}: missing")
        if content and content.strip():
            parts.append(content.strip())
    prompt = "\n\n".join(parts) + "\n\n" + ADDENDUM.format(files=" ".join(editable))
    return Exercise(directory, track, editable, tests, editor, mapping, prompt, notes)


# -- writing one canary -----------------------------------------------------------------------------

def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _starting_files(exercise: Exercise) -> list[str]:
    """The exercise minus metadata (.meta/, .docs/, any dot-directory), tests and leftovers."""
    # Old track layouts keep the example beside the stub (python's example.py): never in repo/.
    skip = set(exercise.tests) | set(exercise.examples)
    files = []
    for path in sorted(exercise.directory.rglob("*")):
        relative = path.relative_to(exercise.directory)
        directories = relative.parts[:-1]
        if any(part.startswith(".") or part in LEFTOVERS for part in directories):
            continue
        if path.is_symlink():
            # A link could point anywhere on this machine; its target must not become a canary.
            exercise.notes.append(f"left out the symbolic link {relative.as_posix()}")
        elif path.is_file() and relative.as_posix() not in skip:
            files.append(relative.as_posix())
    return files


def write_canary(exercise: Exercise, destination: Path, tier: str, options: Options) -> None:
    """Build the canary beside ``destination`` and move it into place once it loads."""
    track, source = exercise.track, exercise.directory
    partial = destination.with_name(f".{destination.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        for relative in _starting_files(exercise):
            _copy(source / relative, partial / "repo" / relative)
        for relative in exercise.tests + exercise.editor:
            text = (source / relative).read_text(encoding="utf-8")
            target = partial / "hidden" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(track.unskip(text), encoding="utf-8")
        for example, solution in exercise.examples.items():
            _copy(source / example, partial / "solution" / solution)
        exercise.notes += track.adapt(partial / "repo", exercise.slug)
        verify = {"run": [track.command(exercise.tests, exercise.slug, options)],
                  "expect_changed": exercise.solution}
        if track.timeout:
            verify["timeout"] = track.timeout
        repo_files = [p.relative_to(partial / "repo").as_posix()
                      for p in (partial / "repo").rglob("*") if p.is_file()]
        allow = needed_allowances(exercise.solution, verify["run"], repo_files,
                                  exercise.tests + exercise.editor)
        if allow:
            verify["allow_changed"] = allow  # the reference solution changes them
        data = {"id": f"{track.name}-{exercise.slug}", "tier": tier,
                "tags": [track.name, "exercism"], "prompt": exercise.prompt, "verify": verify}
        (partial / "canary.toml").write_text(dumps(data), encoding="utf-8")
        load_canary(partial / "canary.toml")  # what we wrote must be what pytest will collect
        if destination.exists():
            shutil.rmtree(destination)
        partial.rename(destination)
    except (OSError, UnicodeDecodeError) as exc:
        raise ExerciseError(f"cannot write the canary: {exc}") from None
    except CanaryError as exc:
        raise ExerciseError(f"the written canary does not load: {exc}") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)


# -- the command ------------------------------------------------------------------------------------

def import_exercises(root: Path, out: Path, tier: str = "lite", languages: set[str] | None = None,
                     force: bool = False, options: Options | None = None) -> list[Outcome]:
    options = options or Options()
    outcomes = []
    missing: dict[str, str | None] = {}  # toolchain check, once per language
    for directory in find_exercises(root):
        hint = _path_language(directory)
        if languages and hint in TRACKS and hint not in languages:
            continue
        name = f"{hint}/{directory.name}" if hint else directory.name
        try:
            exercise = read_exercise(directory)
        except ExerciseError as exc:
            outcomes.append(Outcome(name, "failed", f"{directory}: {exc}"))
            continue
        track = exercise.track
        if languages and track.name not in languages:
            continue
        name = f"{track.name}/{exercise.slug}"
        if track.name not in missing:
            missing[track.name] = track.unavailable(options)
        destination = out / track.name / exercise.slug
        if missing[track.name]:
            outcomes.append(Outcome(name, "skipped", missing[track.name] or ""))
        elif destination.exists() and not force:
            outcomes.append(Outcome(name, "skipped", f"{destination} exists (--force replaces it)"))
        else:
            try:
                destination.parent.mkdir(parents=True, exist_ok=True)
                write_canary(exercise, destination, tier, options)
            except (ExerciseError, OSError) as exc:
                outcomes.append(Outcome(name, "failed", f"{directory}: {exc}", exercise.notes))
            else:
                outcomes.append(Outcome(name, "imported", str(destination), exercise.notes))
    return outcomes


def cmd_import_exercism(args: argparse.Namespace) -> int:
    root: Path = args.dir
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory")
    languages = {name for value in args.language or [] for name in value.split(",") if name}
    unknown = sorted(languages - set(TRACKS))
    if unknown:
        raise UsageError(f"unknown --language {', '.join(unknown)} (known: {', '.join(TRACKS)})")
    if not find_exercises(root):
        raise UsageError(f"no Exercism exercises under {root} (expected .meta/config.json in an"
                         " exercise, exercises/practice/<slug>/ or <language>/exercises/practice/)")
    # Absolute: the checks run in the worktree, far from where this command was typed.
    options = Options(node_modules=args.node_modules and args.node_modules.resolve(),
                      gradle_cache=args.gradle_cache and args.gradle_cache.resolve())
    outcomes = import_exercises(root, args.out, args.tier, languages or None, args.force, options)
    for outcome in outcomes:
        print(f"{outcome.status:<9} {outcome.name}: {outcome.detail}")
        for note in outcome.notes:
            print(f"          note: {note}")
    counts = {status: sum(o.status == status for o in outcomes)
              for status in ("imported", "skipped", "failed")}
    print(f"agentbench: {len(outcomes)} exercise(s): {counts['imported']} imported,"
          f" {counts['skipped']} skipped, {counts['failed']} failed")
    return 1 if counts["failed"] else 0


def import_subparsers(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The ``import`` command's own subparsers, created on first use: each source adds one."""
    parser = subparsers.choices.get("import")
    if parser is None:
        parser = subparsers.add_parser("import", help="convert external task sets into canaries")
        parser.set_defaults(_sources=parser.add_subparsers(dest="source", required=True,
                                                           metavar="SOURCE"))
    return parser.get_default("_sources")


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    parser = import_subparsers(subparsers).add_parser(
        "exercism", help="Exercism practice exercises (a track, one exercise, or Aider's polyglot"
                         " benchmark) as canaries")
    parser.add_argument("dir", metavar="DIR", type=Path,
                        help="an exercise, a track's exercises/practice/, or a polyglot root")
    parser.add_argument("--out", required=True, type=Path, metavar="DEST",
                        help="canaries go to DEST/<language>/<slug>/")
    parser.add_argument("--tier", choices=TIERS, default="lite", help="tier of every canary")
    parser.add_argument("--language", action="append", metavar="LANG",
                        help=f"only these languages (repeat or comma-separate: {', '.join(TRACKS)})")
    parser.add_argument("--force", action="store_true", help="replace canaries that exist")
    parser.add_argument("--node-modules", type=Path, metavar="PATH",
                        help="JavaScript: a node_modules holding jest and the track's Babel preset,"
                             " linked into the worktree when the tests run (they run offline)")
    parser.add_argument("--gradle-cache", type=Path, metavar="PATH",
                        help="Java: a Gradle dependency cache (a directory with modules-2/)"
                             " holding JUnit, used read-only (GRADLE_RO_DEP_CACHE) offline")
    parser.set_defaults(func=cmd_import_exercism)
