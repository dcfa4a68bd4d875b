"""``agentbench validate``: every canary must be proven able to fail (untouched repo) and able to
pass (its solution/). Canaries are built in tmp_path; most check with ``grep`` to stay fast."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from pytest_agentbench.cli import main
from pytest_agentbench.library.validate import CanaryValidation, find_canaries, validate_canary

GOOD_CHECK = "grep -q 'return 2' app.py"


def make_canary(root: Path, name: str = "demo", *, run: list[str] | None = None,
                repo: dict[str, str] | None = None, hidden: dict[str, str] | None = None,
                solution: dict[str, str] | None = None, extra: str = "",
                expect_changed: list[str] | None = None) -> Path:
    directory = root / name
    run = [GOOD_CHECK] if run is None else run
    expect_changed = ["app.py"] if expect_changed is None else expect_changed
    files = {
        "repo": {"app.py": "def f():\n    return 1\n"} if repo is None else repo,
        "hidden": hidden or {},
        "solution": {"app.py": "def f():\n    return 2\n"} if solution is None else solution,
    }
    for sub, content in files.items():
        for relative, text in content.items():
            (directory / sub / relative).parent.mkdir(parents=True, exist_ok=True)
            (directory / sub / relative).write_text(text)
    # JSON arrays of strings are valid TOML arrays.
    (directory / "canary.toml").write_text(
        f'tier = "lite"\nprompt = "Make f return 2."\n{extra}'
        f"[verify]\nrun = {json.dumps(run)}\nexpect_changed = {json.dumps(expect_changed)}\n"
    )
    return directory / "canary.toml"


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Validation's scratch directories go here, so a test can see that they are removed."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


def test_valid_canary_is_ok_and_leaves_nothing_behind(tmp_path: Path, private_tmp: Path) -> None:
    result = validate_canary(make_canary(tmp_path))
    assert isinstance(result, CanaryValidation)
    assert result.ok, result.problems
    assert (result.canary_id, result.tier) == ("demo", "lite")
    assert (result.null_control, result.reference) == ("fails", "passes")
    assert result.warnings == [
        "check `grep -q 'return 2' app.py` passes on its exit code alone (no pytest report, no "
        "report at $AGENTBENCH_TEST_REPORT): whatever makes it exit 0 passes it"]
    assert result.writable == ["app.py", "new .py files in ./"] and result.seconds > 0
    assert list(private_tmp.iterdir()) == []


def test_checks_that_pass_on_the_untouched_repo_are_a_problem(tmp_path: Path) -> None:
    result = validate_canary(make_canary(tmp_path, run=["grep -q 'return' app.py"]))
    assert result.null_control == "PASSES"
    assert result.problems == ["null control: the untouched repo passes the checks"]
    assert result.reference == "passes" and not result.ok


def test_hidden_files_are_overlaid_for_both_controls(tmp_path: Path) -> None:
    # The check script only exists in hidden/: both controls must see it.
    hidden = {"check.sh": "grep -q 'return 2' app.py\n"}
    result = validate_canary(make_canary(tmp_path, run=["sh check.sh"], hidden=hidden))
    assert (result.null_control, result.reference) == ("fails", "passes"), result.problems


def test_broken_reference_names_the_check_and_its_output(tmp_path: Path) -> None:
    solution = {"app.py": "def f():\n    return 3\n"}
    run = ["echo expected return 2 >&2; grep -q 'return 2' app.py"]
    result = validate_canary(make_canary(tmp_path, run=run, solution=solution))
    assert result.null_control == "fails" and result.reference == "FAILS"
    [problem] = result.problems
    assert problem.startswith("reference: check `echo expected")
    assert "exited 1" in problem and "expected return 2" in problem


def test_reference_must_change_an_expected_file_and_leave_protected_ones(tmp_path: Path) -> None:
    elsewhere = validate_canary(make_canary(
        tmp_path, "elsewhere", run=["grep -rq 'return 2' ."], expect_changed=["app.py"],
        solution={"other.py": "def f():\n    return 2\n"}))
    assert elsewhere.reference == "FAILS"
    assert any("no file matching expect_changed ['app.py']" in p and "other.py" in p
               for p in elsewhere.problems), elsewhere.problems
    protected = validate_canary(make_canary(
        tmp_path, "protected", extra="", repo={"app.py": "def f():\n    return 1\n", "tests/t.txt": "x"},
        solution={"app.py": "def f():\n    return 2\n", "tests/t.txt": "y"}))
    assert protected.ok  # no expect_unchanged yet
    toml = protected.path
    toml.write_text(toml.read_text() + 'expect_unchanged = ["tests/**"]\n')
    again = validate_canary(toml)
    assert again.reference == "FAILS"
    assert any("must stay unchanged" in p and "tests/t.txt" in p for p in again.problems)


def test_missing_solution_is_a_warning_unless_required(tmp_path: Path) -> None:
    toml = make_canary(tmp_path, solution={})
    relaxed = validate_canary(toml)
    assert relaxed.ok and relaxed.reference == "missing"
    assert any("no solution/" in w for w in relaxed.warnings)
    strict = validate_canary(toml, require_solution=True)
    assert not strict.ok and strict.reference == "missing"
    assert any("no solution/" in p for p in strict.problems)


def test_invalid_toml_is_a_problem_naming_file_line_and_field(tmp_path: Path) -> None:
    toml = make_canary(tmp_path)
    toml.write_text(toml.read_text().replace('tier = "lite"', 'tier = "huge"'))
    result = validate_canary(toml)
    assert not result.ok and result.canary_id is None
    assert (result.null_control, result.reference) == ("not run", "not run")
    assert any(f"{toml}:1: field 'tier'" in p for p in result.problems), result.problems
    toml.write_text("tier = \n")
    assert "invalid TOML" in validate_canary(toml).problems[0]


def test_a_canary_decided_by_expect_changed_alone(tmp_path: Path) -> None:
    result = validate_canary(make_canary(tmp_path, run=[]))
    assert result.ok and (result.null_control, result.reference) == ("fails", "passes")
    assert any("no verify.run" in w for w in result.warnings)


def test_real_pytest_check_in_the_process_tier(tmp_path: Path) -> None:
    hidden = {"test_app.py": "from app import f\n\ndef test_f():\n    assert f() == 2\n"}
    toml = make_canary(tmp_path, run=["python -m pytest -q test_app.py"], hidden=hidden)
    result = validate_canary(toml, sandbox="process")
    assert (result.null_control, result.reference) == ("fails", "passes"), result.problems


def test_find_canaries_skips_support_and_dot_directories(tmp_path: Path) -> None:
    outer = make_canary(tmp_path / "suite", "a")
    # A canary about canary files: its repo/ holds a canary.toml that is not a canary of the suite.
    (outer.parent / "repo" / "canary.toml").write_text("not one\n")
    inner = make_canary(tmp_path / "suite" / "group", "b")
    make_canary(tmp_path / "suite" / ".cache", "c")
    assert find_canaries([tmp_path / "suite"]) == [outer, inner]  # sorted: a/ < group/
    assert find_canaries([inner, tmp_path / "suite" / "group"]) == [inner]
    with pytest.raises(FileNotFoundError):
        find_canaries([tmp_path / "nope"])


def test_cli_exit_codes_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_canary(tmp_path / "good", "good")
    assert main(["validate", str(tmp_path / "good")]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["canary", "tier", "null", "control", "reference", "cheaters", "integrity", "seconds",
                                 "problems"]
    assert lines[2].split()[:5] == ["good", "lite", "fails", "passes", "fail"]
    assert lines[-1] == "1 canaries: 1 ok, 0 with problems"
    assert "[1/1] good: ok" in err

    make_canary(tmp_path / "mixed", "good")
    make_canary(tmp_path / "mixed", "leaky", run=["true"])
    assert main(["validate", str(tmp_path / "mixed"), "--sandbox", "process"]) == 1
    out, err = capsys.readouterr()
    assert "leaky   lite  PASSES" in out
    assert "null control: the untouched repo passes the checks" in out
    assert out.splitlines()[-1] == "2 canaries: 1 ok, 1 with problems"
    assert "[2/2] leaky: 1 problem(s)" in err

    assert main(["validate", str(tmp_path / "missing")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["validate", str(tmp_path / "empty")]) == 2
    assert "no canary.toml found" in capsys.readouterr().err


def test_write_expect_tests_records_the_references_passing_tests(tmp_path: Path) -> None:
    hidden = {"test_app.py": "from app import f\n\ndef test_a():\n    assert f() == 2\n\n"
                             "def test_b():\n    assert f() + 1 == 3\n"}
    toml = make_canary(tmp_path, run=["python -m pytest -q test_app.py"], hidden=hidden,
                       extra="# keep this comment\n")
    assert main(["validate", str(toml), "--write-expect-tests"]) == 0
    text = toml.read_text()
    assert "# keep this comment" in text and "expect_tests = 2" in text
    result = validate_canary(toml)  # the recorded count is what the reference shows: still ok
    assert result.ok and result.tests_passed == 2 and result.cheaters == "fail"


JEST_MODULES = Path("/opt/agents/jest/node_modules")


@pytest.mark.skipif(not (JEST_MODULES / "jest" / "bin" / "jest.js").is_file(),
                    reason=f"no jest in {JEST_MODULES} (.ci/run installs it)")
@pytest.mark.parametrize("evidence", [True, False], ids=["jest-report", "exit-code"])
def test_a_javascript_exit_0_is_among_the_cheaters(tmp_path: Path, evidence: bool) -> None:
    # With Jest's report as evidence the exploit fails; on the exit code alone validate says it passes.
    report = ' --json --outputFile="$AGENTBENCH_TEST_REPORT"' if evidence else ""
    check = (f"ln -sfn {JEST_MODULES} node_modules && node node_modules/jest/bin/jest.js --ci{report}"
             " app.test.js")
    toml = make_canary(
        tmp_path, run=[check], expect_changed=["app.js"],
        repo={"package.json": '{"name": "demo"}', "app.js": "module.exports = () => 1;\n"},
        solution={"app.js": "module.exports = () => 2;\n"},
        hidden={"app.test.js": "const f = require('./app');\ntest('f', () => expect(f()).toBe(2));\n"})
    result = validate_canary(toml, sandbox="process")
    assert (result.null_control, result.reference) == ("fails", "passes"), result.problems
    if evidence:
        assert result.cheaters == "fail" and not result.problems, result.problems
    else:
        assert result.cheaters == "PASS"
        assert "cheater control: the exploit 'process.exit(0) appended to app.js' passes the checks" in result.problems


def test_junk_in_a_file_the_task_creates_is_among_the_cheaters(tmp_path: Path) -> None:
    """A `test -f` check passes on any file: the cheater that writes junk into the file the
    solution creates proves it, and an evidence-backed check is rated cheat-proof."""
    weak = make_canary(tmp_path, "weak", run=["test -f hello.py"], repo={"README.md": "x\n"},
                       solution={"hello.py": "def hello():\n    return 'hi'\n"},
                       expect_changed=["hello.py"])
    result = validate_canary(weak, sandbox="none")
    assert result.cheaters == "PASS"
    assert "cheater control: the exploit 'junk in the files the task creates' passes the checks" in result.problems
    strong = make_canary(tmp_path, "strong", repo={"README.md": "x\n"},
                         run=["python -m pytest -q test_hello.py"],
                         hidden={"test_hello.py": "from hello import hello\n\ndef test_hi():\n    assert hello() == 'hi'\n"},
                         solution={"hello.py": "def hello():\n    return 'hi'\n"},
                         expect_changed=["hello.py"])
    result = validate_canary(strong, sandbox="none")
    assert (result.reference, result.cheaters) == ("passes", "fail"), result.problems
    assert result.writable == ["hello.py", "new .py files in ./"]


def test_a_reference_outside_verify_writable_is_a_problem(tmp_path: Path) -> None:
    toml = make_canary(tmp_path, extra="", expect_changed=["app.py"])
    toml.write_text(toml.read_text() + 'writable = ["other/*.py"]\n')
    result = validate_canary(toml, sandbox="none")
    assert result.reference == "FAILS"
    assert any("outside the writable set" in p and "app.py" in p for p in result.problems), result.problems


def test_agentbench_new_writes_a_canary_that_validate_accepts(tmp_path, monkeypatch, capsys):
    """The scaffold is a real canary: it fails untouched, passes with solution/, and no generic
    cheat passes it."""
    monkeypatch.chdir(tmp_path)
    assert main(["new", "my-first"]) == 0
    directory = tmp_path / "canaries" / "lite" / "my-first"
    assert sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()) == [
        "canary.toml", "hidden/test_calc_hidden.py", "repo/calc.py", "solution/calc.py"]
    [canary] = find_canaries([directory])
    result = validate_canary(canary, require_solution=True)
    assert result.problems == [] and result.reference == "passes" and result.null_control == "fails"
    assert main(["new", "my-first"]) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err
    assert main(["new", "Bad Name"]) == 2
