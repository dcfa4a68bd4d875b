"""Per-language conventions of the Exercism tracks in Aider's polyglot benchmark.

Verification runs offline, with a scratch HOME and the PATH of ``sandbox.command_env``: the
toolchain check looks where the checks will look, not at the importing user's own PATH, since a
canary whose command cannot start there would count against the model.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# sandbox.command_env puts the running interpreter's directory first (so `python` always works),
# then these; nothing from the user's PATH (~/.cargo/bin, ~/go/bin, nvm) reaches the checks.
VERIFY_PATH = os.pathsep.join(["/usr/local/bin", "/usr/bin", "/bin"])


@dataclass(frozen=True)
class Options:
    node_modules: Path | None = None
    gradle_cache: Path | None = None


def _quote(paths: list[str]) -> str:
    return " ".join(shlex.quote(p) for p in paths)


def _missing_tools(*groups: tuple[str, ...]) -> str | None:
    """None when each group has one tool on VERIFY_PATH; else why not, naming where it is."""
    for group in groups:
        if any(shutil.which(tool, path=VERIFY_PATH) for tool in group):
            continue
        elsewhere = next((found for tool in group if (found := shutil.which(tool))), None)
        names = " or ".join(group)
        if elsewhere:
            # A link is not always enough: a rustup proxy also reads ~/.rustup.
            return (f"{names} is at {elsewhere}, outside the PATH the checks run with"
                    f" ({VERIFY_PATH}, scratch HOME): install it there")
        return f"{names} not found (checks run with PATH={VERIFY_PATH})"
    return None


@dataclass(frozen=True)
class Track:
    name: str
    test_suffixes: tuple[str, ...]
    command: Callable[[list[str], str, Options], str]  # (test files, slug, options) -> shell
    tools: tuple[tuple[str, ...], ...] = ()  # each group: one of these must be found
    build_files: tuple[str, ...] = ()
    timeout: float | None = None  # None: the canary default (120 s)
    skips: tuple[tuple[str, str], ...] = ()  # (regex, replacement) undoing skipped tests
    needs: Callable[[Options], str | None] = lambda options: None  # more preconditions

    def unavailable(self, options: Options) -> str | None:
        return _missing_tools(*self.tools) or self.needs(options)

    def unskip(self, text: str) -> str:
        for pattern, replacement in self.skips:
            text = re.sub(pattern, replacement, text, flags=re.MULTILINE)
        return text

    def adapt(self, repo: Path, slug: str) -> list[str]:
        """Fix what breaks when the exercise is not in a directory named after it: notes."""
        cmake = repo / "CMakeLists.txt"
        if self.name != "cpp" or not cmake.is_file():
            return []
        text = cmake.read_text(encoding="utf-8")
        # Exercism's CMakeLists derives the executable and file names from the directory name,
        # but a worktree is named after the attempt: pin the exercise name instead.
        pinned, count = re.subn(
            r"^get_filename_component\(exercise \$\{CMAKE_CURRENT_SOURCE_DIR\} NAME\)",
            f"set(exercise {slug})  # pinned by agentbench import: worktrees have other names",
            text, flags=re.MULTILINE)
        if not count:
            return ["CMakeLists.txt does not name the exercise after its directory: left as is"]
        cmake.write_text(pinned, encoding="utf-8")
        return []


def _outside_tmp(option: str, path: Path) -> str | None:
    # The bubblewrap sandbox mounts an empty tmpfs on /tmp: a dependency directory there would
    # vanish exactly when the checks run.
    if Path(path).resolve().is_relative_to("/tmp"):
        return f"{option} {path} is under /tmp, which the sandbox replaces with an empty tmpfs"
    return None


def _node_needs(options: Options) -> str | None:
    # Exercism's package.json runs jest through Babel (and newer ones through corepack pnpm,
    # which downloads pnpm): nothing of that can be installed in the offline sandbox.
    if options.node_modules is None:
        return ("jest and Babel must be installed and the checks run offline: `npm install` in"
                " one exercise of the track, then pass --node-modules PATH/node_modules")
    if not (options.node_modules / "jest" / "bin" / "jest.js").is_file():
        return f"--node-modules {options.node_modules}: no jest/bin/jest.js in it"
    return _outside_tmp("--node-modules", options.node_modules)


def _gradle_needs(options: Options) -> str | None:
    # The scratch HOME has an empty Gradle cache and the checks have no network, so JUnit
    # must come from a read-only dependency cache (GRADLE_RO_DEP_CACHE, Gradle >= 6.2).
    if options.gradle_cache is None:
        return ("Gradle resolves JUnit from Maven Central but the checks run offline with an empty"
                " HOME: pass --gradle-cache PATH (a directory holding modules-2/)")
    if not (options.gradle_cache / "modules-2").is_dir():
        return f"--gradle-cache {options.gradle_cache}: no modules-2/ in it"
    return _outside_tmp("--gradle-cache", options.gradle_cache)


TRACKS: dict[str, Track] = {track.name: track for track in [
    Track("python", (".py",), lambda tests, slug, o: f"python -m pytest -q {_quote(tests)}"),
    Track("go", (".go",), lambda tests, slug, o: "go test ./...", tools=(("go",),),
          timeout=300),
    Track("rust", (".rs",), lambda tests, slug, o: "cargo test --offline", tools=(("cargo",),),
          build_files=("Cargo.toml", "Cargo.lock"), timeout=300,
          skips=((r'^[ \t]*#\[ignore(\s*=\s*"[^"]*")?\][ \t]*\r?\n', ""),)),
    Track("java", (".java",),
          lambda tests, slug, o: (f"GRADLE_RO_DEP_CACHE={shlex.quote(str(o.gradle_cache))}"
                                  " gradle test --offline --no-daemon"),
          tools=(("gradle",), ("java",)), needs=_gradle_needs, timeout=600,
          build_files=("build.gradle", "settings.gradle", "gradlew", "gradlew.bat"),
          skips=((r'^[ \t]*@Disabled(\([^)]*\))?[ \t]*\r?\n', ""),)),
    # The CMakeLists builds the tests and runs them as part of the build; the define turns on
    # the tests Exercism hides behind EXERCISM_RUN_ALL_TESTS.
    Track("cpp", (".cpp", ".cc"),
          lambda tests, slug, o: ("cmake -S . -B build -DEXERCISM_RUN_ALL_TESTS=ON"
                                  " && cmake --build build"),
          tools=(("cmake",), ("make",), ("c++", "g++", "clang++")), timeout=300,
          build_files=("CMakeLists.txt",)),
    # Jest's --json report is the check's evidence (attempt/junit.py): process.exit(0) in the code under
    # test makes Jest exit 0 without one.
    Track("javascript", (".js", ".mjs"),
          lambda tests, slug, o: (f"ln -sfn {shlex.quote(str(o.node_modules))} node_modules"
                                  " && node node_modules/jest/bin/jest.js --ci --json"
                                  f' --outputFile="$AGENTBENCH_TEST_REPORT" {_quote(tests)}'),
          tools=(("node",),), needs=_node_needs, timeout=300,
          build_files=("package.json", "babel.config.js", ".eslintrc", "eslint.config.mjs"),
          skips=((r"\bxtest\(", "test("), (r"\bxit\(", "it("), (r"\bxdescribe\(", "describe("))),
]}


def track_for(tests: list[str]) -> Track | None:
    """The track whose test files these are, told by extension as Aider's harness does."""
    suffixes = {PurePosixPath(test).suffix for test in tests}
    return next((t for t in TRACKS.values() if suffixes & set(t.test_suffixes)), None)
