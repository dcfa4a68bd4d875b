"""The redaction of hidden test text from a further try's feedback, and the report's failing
cases it is built from (feedback.py, junit.py). End to end: test_feedback_e2e.py."""

from __future__ import annotations

import base64
import json
import shlex
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_agentbench.attempt.feedback import (
    MAX_CASES,
    REDACTED,
    Redactor,
    _normal_map,
    check_feedback,
    clean,
    normal,
)
from pytest_agentbench.attempt.junit import (
    MAX_FAILURES,
    MAX_MESSAGE_CHARS,
    CaseFailure,
    read_report,
    report_options,
)
from pytest_agentbench.attempt.junit import TestCounts as Counts
from pytest_agentbench.attempt.verify import CheckResult

HIDDEN = '''\
# SECRET-ORACLE-3b9d
from text_utils import slugify

EXPECTED = {"Hello World": "hello-world", "  A -- b!! ": "a-b"}


def test_basic():
    assert slugify("Hello World") == "hello-world"


class TestEdgeCases:
    def test_symbols_are_collapsed_into_single_dashes(self):
        for given, wanted in EXPECTED.items():
            assert slugify(given) == wanted, f"slugify({given!r}) gave {slugify(given)!r}"
'''


@pytest.fixture(scope="module")
def redact() -> Redactor:
    return Redactor([("tests/test_hidden.py", HIDDEN.encode())])


def assert_gone(text: str) -> None:
    for secret in ("SECRET-ORACLE", "from text_utils import slugify", '"Hello World": "hello-world"',
                   "EXPECTED.items()"):
        assert secret not in text, text


@pytest.mark.parametrize("spelling", [
    lambda h: h,
    lambda h: h.replace("\n", "\n    "),  # re-indented
    lambda h: "E   " + h.replace("\n", "\nE   "),  # pytest's lines of an error message
    lambda h: repr(h), lambda h: ascii(h), lambda h: json.dumps(h), lambda h: repr(h.encode()),
    lambda h: str(h.splitlines()),  # each line a repr of its own
    lambda h: "\n".join(repr(line) for line in h.splitlines()),
    lambda h: base64.b64encode(h.encode()).decode(),
    lambda h: base64.urlsafe_b64encode(h.encode()).decode(),
    lambda h: "\n".join(base64.b64encode(line.encode()).decode() for line in h.splitlines()),
    lambda h: h.encode().hex(),
])
def test_each_spelling_of_the_hidden_text_is_removed(redact, spelling):
    shown = redact(f"RuntimeError: {spelling(HIDDEN)}\nsomething else\n")
    assert_gone(shown)
    assert REDACTED in shown
    assert shown.startswith("RuntimeError: ") and shown.endswith("\nsomething else\n")


def test_a_run_in_the_middle_of_other_text_goes_and_the_rest_stays(redact):
    shown = redact("got 'xx' when called as slugify(given) == wanted, f\"slugify and more")
    assert shown == f"got 'xx' when called as {REDACTED} and more"


def test_short_runs_stay_but_a_whole_hidden_line_goes(redact):
    # 19 characters of a long line: too short to say anything by itself
    assert redact('xslugify("Hello Worly') == 'xslugify("Hello Worly'
    # a whole line of the file, however short, behind any prefix
    assert redact("E   def test_basic():") == f"E   {REDACTED}"
    assert redact("['def test_basic():', 'x']") == f"['{REDACTED}', 'x']"


def test_what_a_runner_says_about_a_failure_stays(redact):
    for honest in ("AssertionError: assert 'hello world' == 'hello-world'\n  - hello-world\n  + hello world",
                   "test_hidden.py:8: AssertionError", "==================== 2 failed in 0.03s ====================",
                   "        " * 10 + "x", "ModuleNotFoundError: No module named 'text_utils'"):
        assert redact(honest) == honest


def test_test_ids_keep_the_names_the_hidden_files_define(redact):
    test_id = "tests.test_hidden.TestEdgeCases::test_symbols_are_collapsed_into_single_dashes"
    # the name is a long run of the file's text, and a name its code defines
    assert redact(test_id) == test_id
    # what is not a name goes
    assert redact("x::test_basic[from text_utils import slugify]") == f"x::test_basic[{REDACTED}]"


def test_without_hidden_files_nothing_is_redacted():
    assert Redactor.from_files({})(HIDDEN) == HIDDEN


def test_the_hidden_files_are_read_as_the_canary_has_them():
    redact = Redactor.from_files({"sub/test_x.py": HIDDEN.encode()})
    assert_gone(redact(HIDDEN))
    assert "test_x" in redact.names and "sub" in redact.names


def test_text_made_to_make_the_search_slow_is_withheld_whole():
    redact = Redactor([("t.py", b"ab" * 200_000)])
    started = time.monotonic()
    assert redact("ab" * 3000) == REDACTED
    assert time.monotonic() - started < 10


def test_control_characters_and_lone_surrogates_are_escaped():
    assert clean("a\x00b\x1b[31mred\x1b[0m\r\nc\ud800\tt") == "a\\x00bred\nc\\ud800\tt"


def check(output: str, tests: Counts | None = None, exit_code: int = 1) -> CheckResult:
    return CheckResult(command="python -m pytest -q", exit_code=exit_code, timed_out=False, seconds=0.1,
                       output=output, tests=tests)


def test_a_checks_feedback_lists_the_reports_failing_tests_bounded(redact):
    failures = tuple(CaseFailure(f"test_hidden::test_{n}", "failed", f"assert {n} == 0" + "x" * 5000,
                                 "    def test_basic():\nE       assert 1 == 0\nE       extra line")
                     for n in range(MAX_CASES + 5))
    counts = Counts(failed=MAX_CASES + 5, passed=1, failures=failures)
    shown = check_feedback(check("FAILED ...\n15 failed, 1 passed\n" + HIDDEN, counts), redact)
    assert shown.startswith("$ python -m pytest -q\n[exit code 1]\nFailing tests, from the test report "
                            "(15 failed, 0 errors, 1 passed):\n- test_hidden::test_0 (failed)\n  assert 0 == 0x")
    assert shown.count("(failed)") == MAX_CASES and "- ... and 5 more" in shown
    assert "E       extra line" in shown and "def test_basic" not in shown
    assert len(shown) < MAX_CASES * 800 + 2000
    assert_gone(shown)


def test_without_a_report_the_feedback_is_the_outputs_end(redact):
    shown = check_feedback(check("line\n" * 2000 + "the end: " + HIDDEN), redact)
    assert shown.startswith("$ python -m pytest -q\n[exit code 1]\nline\n")
    assert shown.endswith(f"the end: {REDACTED}") and len(shown) < 3100


def test_a_report_keeps_its_failing_cases_messages(tmp_path):
    tree = tmp_path / "tree"
    report = tmp_path / "report.xml"
    report.write_text(f"""<?xml version="1.0"?><testsuites><testsuite errors="0" failures="2">
        <testcase classname="test_x" name="test_ok"/>
        <testcase classname="test_x" name="test_bad"><failure message="assert 1 == 2">
            def test_bad():
        &gt;   assert 1 == 2
        E   assert 1 == 2
        {tree}/test_x.py:3: AssertionError</failure></testcase>
        <testcase classname="test_x" name="test_long"><failure message="{'m' * 5000}">{'d' * 5000}</failure></testcase>
        <testcase classname="test_x" name="test_setup"><error message="failed on setup">E   fixture 'db' not found</error></testcase>
        </testsuite></testsuites>""")
    counts = read_report(report, tree)
    assert isinstance(counts, Counts)
    assert counts.cases == (("test_x::test_ok", "passed"), ("test_x::test_bad", "failed"),
                            ("test_x::test_long", "failed"), ("test_x::test_setup", "error"))
    bad, long, setup = counts.failures
    assert (bad.test, bad.status, bad.message) == ("test_x::test_bad", "failed", "assert 1 == 2")
    assert "E   assert 1 == 2" in bad.detail and "\n        test_x.py:3: AssertionError" in bad.detail
    assert len(long.message) == len(long.detail) == MAX_MESSAGE_CHARS
    assert (setup.status, setup.message, setup.detail) == ("error", "failed on setup", "E   fixture 'db' not found")


def test_a_report_keeps_only_the_first_failures(tmp_path):
    report = tmp_path / "report.xml"
    report.write_text("<testsuite>" + "".join(f'<testcase classname="c" name="t{n}"><failure message="m"/></testcase>'
                                              for n in range(MAX_FAILURES + 10)) + "</testsuite>")
    counts = read_report(report)
    assert isinstance(counts, Counts)
    assert counts.failed == MAX_FAILURES + 10 and len(counts.failures) == MAX_FAILURES


def test_a_jest_report_keeps_its_failure_messages(tmp_path):
    tree = tmp_path / "tree"
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"success": False, "testResults": [
        {"name": f"{tree}/a.test.js", "status": "failed", "assertionResults": [
            {"fullName": "slug works", "status": "passed"},
            {"fullName": "slug fails", "status": "failed",
             "failureMessages": [f"Error: expect(received).toBe(expected)\n\nExpected: 1\n    at {tree}/a.test.js:3"]}]},
        {"name": f"{tree}/b.test.js", "status": "failed", "message": "SyntaxError: Unexpected token",
         "assertionResults": []}]}))
    counts = read_report(report, tree)
    assert isinstance(counts, Counts)
    fails, broken = counts.failures
    assert (fails.test, fails.message) == ("a.test.js::slug fails", "Error: expect(received).toBe(expected)")
    assert fails.detail.endswith("Expected: 1\n    at a.test.js:3")
    assert (broken.test, broken.status, broken.detail) == ("b.test.js::", "error", "SyntaxError: Unexpected token")


def test_the_report_path_is_quoted_for_pytest_addopts(tmp_path):
    path = tmp_path / "dir with spaces" / "it's.report"
    assert shlex.split(report_options(path)) == [f"--junitxml={path}", "-o", "junit_family=xunit2"]


def test_a_report_path_without_spaces_reads_as_before():
    assert report_options(Path("/tmp/r/check-0.report")) == "--junitxml=/tmp/r/check-0.report -o junit_family=xunit2"


@given(st.text(alphabet=st.sampled_from(["a", "b", " ", "\n", "\t", "\u2003", "\\", "'", '"'])))
def test_the_feedback_and_the_hidden_files_are_compared_alike(text):
    """The hidden files take the fast path (normal), the feedback the one that maps runs back
    (_normal_map): both must normalise the same."""
    norm, starts = _normal_map(text)
    assert norm == normal(text)
    assert len(starts) == len(norm) + 1 and starts[-1] == len(text)


def test_a_name_the_hidden_code_uses_stays_but_a_literal_shaped_like_one_goes():
    hidden = ("import text_utils\n\n\ndef test_all():\n"
              "    assert text_utils.slugify_everything_at_once('a') == 'expected_value_of_the_oracle'\n")
    redact = Redactor([("test_all.py", hidden.encode())])
    missing = "AttributeError: module 'text_utils' has no attribute 'slugify_everything_at_once'"
    assert redact(missing) == missing
    assert redact("E   text_utils.slugify_everything_at_once") == "E   text_utils.slugify_everything_at_once"
    assert redact("got 'expected_value_of_the_oracle'") == f"got {REDACTED}"
    # a name is no way around the rule for what surrounds it
    assert REDACTED in redact("text_utils.slugify_everything_at_once('a') == 'x'")
