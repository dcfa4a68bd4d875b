"""``agentbench import exercism``: Exercism-format fixtures built here, converted, loaded, validated."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_agentbench.cli import main
from pytest_agentbench.library import exercism_tracks
from pytest_agentbench.library.exercism import ExerciseError, map_examples, read_exercise
from pytest_agentbench.library.exercism_tracks import TRACKS, VERIFY_PATH
from pytest_agentbench.library.toml_writer import dumps
from pytest_agentbench.library.validate import validate_canary
from pytest_agentbench.sandbox.commands import command_env
from pytest_agentbench.schemas.canary import load_canary, tomllib

INSTRUCTIONS = '# Instructions\n\nReturn "One for X, one for me." (X defaults to `you`; a \\ too).\n'
TEST_FILE = """\
import unittest

from two_fer import two_fer


class TwoFerTest(unittest.TestCase):
    def test_no_name_given(self):
        self.assertEqual(two_fer(), "One for you, one for me.")

    def test_a_name_given(self):
        self.assertEqual(two_fer("Alice"), "One for Alice, one for me.")
"""


def exercise(root: Path, files: dict[str, str], config: dict | str | None) -> Path:
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(content)
    if config is not None:
        (root / ".meta").mkdir(parents=True, exist_ok=True)
        text = config if isinstance(config, str) else json.dumps(config, indent=2)
        (root / ".meta" / "config.json").write_text(text)
    return root


def python_two_fer(root: Path) -> Path:
    return exercise(root, {
        "two_fer.py": 'def two_fer(name="you"):\n    raise NotImplementedError\n',
        "two_fer_test.py": TEST_FILE,
        ".meta/example.py": 'def two_fer(name="you"):\n    return f"One for {name}, one for me."\n',
        ".meta/tests.toml": "[x]\n",
        ".docs/instructions.md": INSTRUCTIONS,
        ".docs/instructions.append.md": "# Hints\n\nUse an f-string.\n",
    }, {"authors": ["x"], "files": {"solution": ["two_fer.py"], "test": ["two_fer_test.py"],
                                    "example": [".meta/example.py"]}})


def go_clock(root: Path) -> Path:
    return exercise(root, {
        "clock.go": "package clock\n", "go.mod": "module clock\n\ngo 1.18\n",
        "clock_test.go": "package clock\n", "cases_test.go": "package clock\n",
        ".meta/example.go": "package clock\n", ".docs/instructions.md": "Clock.\n",
    }, {"files": {"solution": ["clock.go"], "test": ["clock_test.go"],
                  "example": [".meta/example.go"], "editor": ["cases_test.go"]}})


def polyglot(root: Path) -> Path:
    """Aider's polyglot layout: a good python exercise, a go one, two broken ones."""
    practice = root / "{}" / "exercises" / "practice"
    python_two_fer(Path(str(practice).format("python")) / "two-fer")
    go_clock(Path(str(practice).format("go")) / "clock")
    exercise(Path(str(practice).format("python")) / "broken-json",
             {".docs/instructions.md": "x\n"}, '{"files": {"solution": ["a.py"],')
    exercise(Path(str(practice).format("python")) / "bad-field",
             {".docs/instructions.md": "x\n", "a.py": ""},
             {"files": {"solution": "a.py", "test": ["a_test.py"]}})
    return root


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    status = main(["import", "exercism", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# -- the round trip ---------------------------------------------------------------------------------

def test_python_exercise_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = python_two_fer(tmp_path / "two-fer")
    status, out, _ = run_cli(capsys, source, "--out", tmp_path / "out", "--tier", "medium")
    assert status == 0, out
    assert "imported  python/two-fer" in out and "1 imported, 0 skipped, 0 failed" in out
    directory = tmp_path / "out" / "python" / "two-fer"
    canary = load_canary(directory / "canary.toml")
    assert (canary.id, canary.tier, canary.tags) == ("python-two-fer", "medium", ["python", "exercism"])
    assert canary.verify.run == ["python -m pytest -q two_fer_test.py"]
    assert canary.verify.expect_changed == ["two_fer.py"]
    # The instructions verbatim (quotes and backslash survive TOML), then Aider's addendum.
    assert canary.prompt.startswith(INSTRUCTIONS.strip() + "\n\n# Hints\n\nUse an f-string.")
    assert "modify the supplied files: two_fer.py\nDon't change the names of existing functions" \
        in canary.prompt
    assert "Only use standard libraries, don't suggest installing any packages." in canary.prompt

    def listing(sub: str) -> list[str]:
        return sorted(p.relative_to(directory / sub).as_posix()
                      for p in (directory / sub).rglob("*") if p.is_file())
    assert listing("repo") == ["two_fer.py"]  # no .meta/, .docs/ or tests for the agent
    assert listing("hidden") == ["two_fer_test.py"]
    assert listing("solution") == ["two_fer.py"]
    assert "return f\"One for" in (directory / "solution" / "two_fer.py").read_text()

    result = validate_canary(directory / "canary.toml", require_solution=True)
    assert (result.null_control, result.reference) == ("fails", "passes"), result.problems
    assert result.ok


def test_polyglot_root_reports_each_exercise(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    if shutil.which("go", path=VERIFY_PATH):
        pytest.skip("go is installed here: the skip cannot be seen")
    status, out, _ = run_cli(capsys, polyglot(tmp_path / "polyglot"), "--out", tmp_path / "out")
    assert status == 1, out  # failures make the exit status 1; skips alone would not
    lines = {line.split()[1].rstrip(":"): line for line in out.splitlines()
             if line.split() and line.split()[0] in ("imported", "skipped", "failed")}
    assert lines["python/two-fer"].startswith("imported")
    assert lines["go/clock"].startswith("skipped") and "go " in lines["go/clock"]
    assert "PATH=" in lines["go/clock"] or "outside the PATH" in lines["go/clock"]
    assert lines["python/broken-json"].startswith("failed")
    assert ".meta/config.json: invalid JSON" in lines["python/broken-json"]
    assert "field 'files.solution'" in lines["python/bad-field"]
    assert "2 failed" in out and "1 imported, 1 skipped" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["python"]  # nothing for go
    assert sorted(p.name for p in (tmp_path / "out" / "python").iterdir()) == ["two-fer"]


def test_missing_toolchain_is_a_skip_with_its_reason(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(exercism_tracks, "VERIFY_PATH", str(tmp_path / "empty-bin"))
    from pytest_agentbench.library.exercism import import_exercises
    outcomes = import_exercises(go_clock(tmp_path / "clock"), tmp_path / "out")
    assert [(o.name, o.status) for o in outcomes] == [("go/clock", "skipped")]
    assert "go" in outcomes[0].detail and not (tmp_path / "out").exists()


def test_go_canary_as_written(tmp_path: Path, monkeypatch) -> None:
    """What a go canary would hold where go is installed (faked here): editor files stay."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "go").write_text("#!/bin/sh\n")
    (fake_bin / "go").chmod(0o755)
    monkeypatch.setattr(exercism_tracks, "VERIFY_PATH", str(fake_bin))
    from pytest_agentbench.library.exercism import import_exercises
    outcomes = import_exercises(go_clock(tmp_path / "clock"), tmp_path / "out")
    assert [o.status for o in outcomes] == ["imported"], outcomes
    directory = tmp_path / "out" / "go" / "clock"
    canary = load_canary(directory / "canary.toml")
    assert canary.verify.run == ["go test ./..."] and canary.verify.timeout == 300
    assert sorted(p.name for p in (directory / "repo").iterdir()) == ["cases_test.go", "clock.go", "go.mod"]
    assert sorted(p.name for p in (directory / "hidden").iterdir()) == ["cases_test.go", "clock_test.go"]


# -- options and usage ------------------------------------------------------------------------------

def test_existing_canary_needs_force(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = python_two_fer(tmp_path / "two-fer")
    assert run_cli(capsys, source, "--out", tmp_path / "out")[0] == 0
    marker = tmp_path / "out" / "python" / "two-fer" / "repo" / "stray.txt"
    marker.write_text("x")
    status, out, _ = run_cli(capsys, source, "--out", tmp_path / "out")
    assert status == 0 and "skipped   python/two-fer" in out and "--force" in out
    assert marker.exists()
    status, out, _ = run_cli(capsys, source, "--out", tmp_path / "out", "--force")
    assert status == 0 and "imported" in out and not marker.exists()


def test_language_filter(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = polyglot(tmp_path / "polyglot")
    status, out, _ = run_cli(capsys, root, "--out", tmp_path / "out", "--language", "go")
    assert "python/" not in out and "go/clock" in out and status == 0


@pytest.mark.parametrize("argv, message", [
    (["{tmp}/nope", "--out", "{tmp}/out"], "is not a directory"),
    (["{tmp}/empty", "--out", "{tmp}/out"], "no Exercism exercises under"),
    (["{tmp}/two-fer", "--out", "{tmp}/out", "--language", "cobol"], "unknown --language cobol"),
])
def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture, argv: list[str],
                             message: str) -> None:
    python_two_fer(tmp_path / "two-fer")
    (tmp_path / "empty" / "notes").mkdir(parents=True)
    status, _, err = run_cli(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert status == 2 and message in err
    assert not (tmp_path / "out").exists()


def test_out_is_required() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["import", "exercism", "."])
    assert exc.value.code == 2


def test_javascript_without_node_modules_is_skipped(tmp_path: Path) -> None:
    from pytest_agentbench.library.exercism import import_exercises
    source = exercise(tmp_path / "two-fer", {
        "two-fer.js": "export const twoFer = () => {};\n", "package.json": "{}\n",
        "two-fer.spec.js": "xtest('a', () => {});\n", ".meta/proof.ci.js": "export const twoFer = 1;\n",
        ".docs/instructions.md": "x\n",
    }, {"files": {"solution": ["two-fer.js"], "test": ["two-fer.spec.js"],
                  "example": [".meta/proof.ci.js"]}})
    [outcome] = import_exercises(source, tmp_path / "out")
    if shutil.which("node", path=VERIFY_PATH):
        assert outcome.status == "skipped" and "--node-modules" in outcome.detail
    fake = tmp_path / "node_modules"
    (fake / "jest" / "bin").mkdir(parents=True)
    (fake / "jest" / "bin" / "jest.js").write_text("")
    reason = TRACKS["javascript"].needs(exercism_tracks.Options(node_modules=fake))
    assert reason and "under /tmp" in reason if str(fake).startswith("/tmp/") else reason is None


# -- the pieces -------------------------------------------------------------------------------------

def test_malformed_configs_name_file_and_field(tmp_path: Path) -> None:
    cases = {
        '{"files": {"solution": ["a.py"], "test": ["../../etc/passwd"]}}': "field 'files.test'",
        '{"files": {"solution": [], "test": ["a_test.py"]}}': "field 'files.solution': empty",
        '{"blurb": "no files"}': "field 'files'",
        '{"files": {"solution": ["a.py"], "test": ["a_test.rb"]}}': "no supported language",
        '{"files": {"solution": ["a.py"], "test": ["gone_test.py"]}}': "gone_test.py does not exist",
        '{"files": {"solution": ["a.py"], "test": ["a_test.py"], "example": ["x.py"]}}':
            "files.example': x.py does not exist",
        '[1]': "not a JSON object",
    }
    for number, (config, message) in enumerate(cases.items()):
        directory = exercise(tmp_path / str(number), {"a.py": "", "a_test.py": "",
                                                      ".docs/instructions.md": "x"}, config)
        with pytest.raises(ExerciseError, match="^.meta/config.json: ") as exc:
            read_exercise(directory)
        assert message in str(exc.value)
    (tmp_path / "0" / ".docs" / "instructions.md").unlink()
    (tmp_path / "0" / ".meta" / "config.json").write_text(
        '{"files": {"solution": ["a.py"], "test": ["a_test.py"]}}')
    with pytest.raises(ExerciseError, match="^.docs/instructions.md: missing"):
        read_exercise(tmp_path / "0")


def test_map_examples() -> None:
    assert map_examples([".meta/example.py"], ["two_fer.py"]) == ({".meta/example.py": "two_fer.py"}, [])
    java = map_examples([".meta/src/reference/java/Twofer.java", ".meta/src/reference/java/Helper.java"],
                        ["src/main/java/Twofer.java"])
    assert java == ({".meta/src/reference/java/Twofer.java": "src/main/java/Twofer.java",
                     ".meta/src/reference/java/Helper.java": "src/main/java/Helper.java"}, [])
    cpp = map_examples([".meta/example.cpp", ".meta/example.h"], ["bank_account.cpp", "bank_account.h"])
    assert cpp == ({".meta/example.cpp": "bank_account.cpp", ".meta/example.h": "bank_account.h"}, [])
    mapping, notes = map_examples([".meta/a.js", ".meta/b.js"], ["x.js", "y.js"])
    assert mapping == {".meta/a.js": "x.js", ".meta/b.js": "y.js"} and len(notes) == 2
    assert "by extension and order" in notes[0]
    with pytest.raises(ExerciseError, match="files.example"):
        map_examples([".meta/example.rb"], ["a.py"])


def test_rust_build_files_and_skips(tmp_path: Path) -> None:
    directory = exercise(tmp_path / "clock", {
        "src/lib.rs": "", "Cargo.toml": "[package]\n", "tests/clock.rs": "", ".meta/example.rs": "",
        ".docs/instructions.md": "x"},
        {"files": {"solution": ["src/lib.rs", "Cargo.toml"], "test": ["tests/clock.rs"],
                   "example": [".meta/example.rs"]}})
    read = read_exercise(directory)
    assert read.solution == ["src/lib.rs"] and read.examples == {".meta/example.rs": "src/lib.rs"}
    assert "supplied files: src/lib.rs\n" in read.prompt
    rust = "#[test]\n#[ignore]\nfn a() {}\n    #[ignore = \"slow\"]\nfn b() {}\n"
    assert TRACKS["rust"].unskip(rust) == "#[test]\nfn a() {}\nfn b() {}\n"
    java = '  @Test\n  @Disabled("Remove to run test")\n  void a() {}\n  @Disabled\n  void b() {}\n'
    assert TRACKS["java"].unskip(java) == "  @Test\n  void a() {}\n  void b() {}\n"
    js = "xtest('a', () => {});\ntest('b', () => {});\nxit('c');\n"
    assert TRACKS["javascript"].unskip(js) == "test('a', () => {});\ntest('b', () => {});\nit('c');\n"


def test_old_layout_example_beside_the_stub_stays_out_of_repo(tmp_path: Path) -> None:
    from pytest_agentbench.library.exercism import import_exercises
    source = exercise(tmp_path / "leap", {
        "leap.py": "def leap_year(year):\n    pass\n", "leap_test.py": "", "example.py": "answer\n",
        ".docs/instructions.md": "x\n"},
        {"files": {"solution": ["leap.py"], "test": ["leap_test.py"], "example": ["example.py"]}})
    [outcome] = import_exercises(source, tmp_path / "out")
    directory = tmp_path / "out" / "python" / "leap"
    assert outcome.status == "imported"
    assert sorted(p.name for p in (directory / "repo").iterdir()) == ["leap.py"]
    assert (directory / "solution" / "leap.py").read_text() == "answer\n"


def test_cpp_cmakelists_is_pinned_to_the_slug(tmp_path: Path) -> None:
    (tmp_path / "CMakeLists.txt").write_text(
        "get_filename_component(exercise ${CMAKE_CURRENT_SOURCE_DIR} NAME)\nproject(${exercise} CXX)\n")
    assert TRACKS["cpp"].adapt(tmp_path, "bank-account") == []
    assert (tmp_path / "CMakeLists.txt").read_text().startswith("set(exercise bank-account)")


def test_verify_path_matches_the_sandbox(tmp_path: Path) -> None:
    assert command_env(tmp_path)["PATH"].endswith(VERIFY_PATH)


_text = st.text(st.characters(blacklist_categories=("Cs",)))


@settings(max_examples=300, deadline=None)
@given(_text, st.lists(_text, max_size=3))
def test_toml_writer_round_trips(text: str, items: list[str]) -> None:
    data = {"prompt": text, "tags": items, "verify": {"run": [text + '"'], "timeout": 2.5}}
    assert tomllib.loads(dumps(data)) == data
