"""Deterministic page checks of judge entries (``checks = ["no_console_errors", "not_blank"]`` on a
``page:`` artifact): real Chromium renders real pages — one with an uncaught exception, a blank
one, one blank on a phone only, a good one — the checks decide before any model is asked, a
failing one fails the attempt (the model's fault), and ``agentbench validate`` runs them on the
untouched repo and the reference."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from pytest_agentbench.judging.artifacts import capture
from pytest_agentbench.judging.ask import run_judge
from pytest_agentbench.judging.page import find_browser
from pytest_agentbench.judging.report import judge_rows
from pytest_agentbench.library.validate import validate_canary
from pytest_agentbench.schemas.canary import CanaryError, load_canary
from pytest_agentbench.schemas.judge import JudgeSpec
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_CHECK, HELLO_SOURCE

GOOD = "<!doctype html><html><body><h1>Pricing</h1><p>Basic, Pro and Enterprise.</p></body></html>"
THROWS = "<!doctype html><html><body><h1>Pricing</h1><script>renderCards();</script></body></html>"
BLANK = '<!doctype html><html><body><div id="root"></div></body></html>'
# Visible on a desktop, nothing at all on a phone (a media query hides everything).
PHONE_BLANK = ('<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1">'
               "<style>@media (max-width: 600px) { body { display: none } }"
               "</style></head><body><h1>Pricing</h1></body></html>")
MISSING_IMAGE = '<!doctype html><html><body><h1>Pricing</h1><img src="cards.png"></body></html>'


@pytest.fixture(autouse=True)
def needs_browser() -> None:
    if find_browser() is None:
        pytest.skip("no chromium, chromium-browser or google-chrome on PATH (AGENTBENCH_CHROMIUM unset)")


def checks_only(**fields) -> JudgeSpec:
    return JudgeSpec(artifact="page:index.html", checks=["no_console_errors", "not_blank"], **fields)


def no_model(name: str):
    raise AssertionError(f"no model may be asked, {name!r} was")


def judged(tmp_path: Path, page: str, spec: JudgeSpec):
    (tmp_path / "index.html").write_text(page)
    artifact = capture(spec, tmp_path, lambda command: (0, ""), lambda: "")
    return run_judge(spec, artifact, no_model)


# -- the checks on real pages ------------------------------------------------------------------------

def test_a_good_page_passes_both_checks_and_asks_no_model(tmp_path):
    record = judged(tmp_path, GOOD, checks_only())
    assert record.verdict == "pass" and record.ok
    assert (record.judge, record.mode, record.describer) == ("page checks", "checks", None)
    assert [(c.name, c.passed, c.reason) for c in record.page_checks] == [
        ("no_console_errors", True, ""), ("not_blank", True, "")]
    assert record.reason == "page checks passed: no_console_errors, not_blank"


def test_an_uncaught_exception_fails_no_console_errors(tmp_path):
    record = judged(tmp_path, THROWS, checks_only())
    assert record.verdict == "check_failed" and not record.ok and not record.infrastructure
    reason = ("the page logged 1 problem while loading: uncaught exception: ReferenceError: "
              "renderCards is not defined (desktop, phone)")
    assert [(c.name, c.passed, c.reason) for c in record.page_checks] == [
        ("no_console_errors", False, reason), ("not_blank", True, "")]
    assert record.reason == f"no_console_errors: {reason}"


def test_a_failed_request_fails_no_console_errors(tmp_path):
    record = judged(tmp_path, MISSING_IMAGE, checks_only())
    assert record.verdict == "check_failed"
    assert "failed request: " in record.reason and "cards.png: net::ERR_FILE_NOT_FOUND (desktop, phone)" in record.reason


@pytest.mark.parametrize(("page", "reason"), [
    (BLANK, "not_blank: the page is blank at the desktop and phone viewports: no visible text and nothing drawn"),
    (PHONE_BLANK, "not_blank: the page is blank at the phone viewport: no visible text and nothing drawn"),
])
def test_a_blank_page_fails_not_blank(tmp_path, page, reason):
    record = judged(tmp_path, page, checks_only())
    assert record.verdict == "check_failed" and record.reason == reason


def test_without_not_blank_a_blank_page_is_not_captured_as_before(tmp_path):
    spec = JudgeSpec(artifact="page:index.html", checks=["no_console_errors"])
    record = judged(tmp_path, BLANK, spec)
    assert record.verdict == "not_captured" and "blank at every viewport" in record.reason


def test_a_failing_check_keeps_the_judge_from_being_asked(tmp_path):
    spec = JudgeSpec(artifact="page:index.html", criteria="Three cards.", judge="big", mode="direct",
                     checks=["no_console_errors"])
    record = judged(tmp_path, THROWS, spec)
    assert record.verdict == "check_failed" and record.judge == "big" and record.judge_replies == []
    # and the judges' table does not count it as the judge's failure
    [row] = judge_rows([{"canary": "c", "judges": [record.model_dump(mode="json")]}])
    assert (row["check_failed"], row["fail"], row["approval_rate"]) == (1, 0, None)


# -- the canary format -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("entry", "message"), [
    ('artifact = "file:a.txt"\nchecks = ["not_blank"]', "checks need a page: artifact"),
    ('artifact = "page:a.html"\nchecks = ["no_errors"]', "field 'verify.judge.0.checks.0'"),
    ('artifact = "page:a.html"\nchecks = ["not_blank"]\nexpect = "fail"',
     "checks fail the attempt whatever expect says"),
    ('artifact = "page:a.html"\ncriteria = "c"\nchecks = ["not_blank"]', "criteria and judge go together: judge is missing"),
    ('artifact = "page:a.html"', "needs criteria and a judge model, or checks = ['no_console_errors', 'not_blank']"),
    ('artifact = "page:a.html"\nchecks = ["not_blank"]\ndescriber = "vl"', "a describer needs criteria and a judge"),
])
def test_a_bad_page_check_entry_is_a_load_error_naming_the_field(tmp_path, entry, message):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "a.txt").write_text("a\n")
    path = tmp_path / "canary.toml"
    path.write_text(f'tier = "lite"\nprompt = "p"\n[verify]\nrun = ["true"]\n[[verify.judge]]\n{entry}\n')
    with pytest.raises(CanaryError) as error:
        load_canary(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_an_entry_of_checks_only_names_no_model(tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "a.txt").write_text("a\n")
    path = tmp_path / "canary.toml"
    path.write_text('tier = "lite"\nprompt = "p"\n[verify]\nrun = ["true"]\n[[verify.judge]]\n'
                    'artifact = "page:web/index.html"\nchecks = ["not_blank", "no_console_errors", "not_blank"]\n')
    [spec] = load_canary(path).verify.judge
    assert spec.models() == set() and not spec.asks_models and spec.checks == ["not_blank", "no_console_errors"]


# -- end to end: a failing check fails the attempt, in both sandbox tiers --------------------------------

def page_canary(judge: str) -> str:
    return textwrap.dedent(f"""\
        tier = "lite"
        prompt = "Create hello.py and the pricing page web/index.html."
        [verify]
        run = [{json.dumps(HELLO_CHECK)}]
        expect_changed = ["hello.py"]
        """) + judge


CHECKS_ENTRY = '[[verify.judge]]\nartifact = "page:web/index.html"\nchecks = ["no_console_errors", "not_blank"]\n'


def coder(page: str) -> list[dict]:
    return [call("write_file", path="hello.py", content=HELLO_SOURCE),
            call("write_file", path="web/index.html", content=page), say("Done.")]


@pytest.mark.parametrize("tier", ["auto", "none"])
@pytest.mark.parametrize(("page", "passed", "reason"), [
    (GOOD, True, ""),
    (THROWS, False, ("no_console_errors: the page logged 1 problem while loading: uncaught exception: "
                     "ReferenceError: renderCards is not defined (desktop, phone)")),
    (BLANK, False, ("not_blank: the page is blank at the desktop and phone viewports: no visible text "
                    "and nothing drawn")),
])
def test_a_failing_page_check_fails_the_attempt(bench, tier, page, passed, reason):
    bench.canary(toml=page_canary(CHECKS_ENTRY))
    with ScriptedServer({"m": coder(page)}) as server:
        result = bench.run(server, "--agentbench-sandbox", tier)
    result.assert_outcomes(passed=int(passed), failed=int(not passed))
    [attempt] = bench.report()["attempts"]
    [record] = attempt["judges"]
    assert attempt["outcome"] == ("passed" if passed else "failed")
    assert record["verdict"] == ("pass" if passed else "check_failed") and record["mode"] == "checks"
    if not passed:
        assert record["reason"] == reason
        result.stdout.fnmatch_lines([f"*judge check 'page:web/index.html' (page checks): check_failed: {reason}*"])


def test_with_a_judge_the_checks_run_first_and_a_failure_asks_no_model(bench):
    entry = ('[[verify.judge]]\nartifact = "page:web/index.html"\ncriteria = "Three pricing cards."\n'
             'describer = "vl"\njudge = "big"\nchecks = ["no_console_errors"]\n')
    bench.canary(toml=page_canary(entry))
    judge = [say('{"verdict": "pass", "reason": "fine"}')]
    with ScriptedServer({"m": coder(THROWS), "vl": [say("A heading.")], "big": judge}) as server:
        (bench.pytester.path / "agentbench.toml").write_text(
            f'[models.vl]\nbase_url = "{server.url}"\n[models.big]\nbase_url = "{server.url}"\n')
        result = bench.run(server)
        asked = [r.get("model") for r in server.requests if "messages" in r]
    result.assert_outcomes(failed=1)
    assert "vl" not in asked and "big" not in asked
    [record] = bench.report()["attempts"][0]["judges"]
    assert record["verdict"] == "check_failed" and record["describer"] == "vl" and record["judge"] == "big"
    assert record["page_checks"][0]["name"] == "no_console_errors" and not record["page_checks"][0]["passed"]


# -- agentbench validate -----------------------------------------------------------------------------------

def validate_page_canary(root: Path, repo_page: str, solution_page: str) -> Path:
    directory = root / "web-page"
    for sub, page in (("repo", repo_page), ("solution", solution_page)):
        (directory / sub / "web").mkdir(parents=True)
        (directory / sub / "web" / "index.html").write_text(page)
    # The only model-free check that can tell the pages apart is the page check.
    (directory / "canary.toml").write_text(
        'tier = "lite"\nprompt = "Fix the pricing page."\n[verify]\nrun = ["test -f web/index.html"]\n'
        'expect_changed = ["web/index.html"]\n' + CHECKS_ENTRY)
    return directory / "canary.toml"


@pytest.mark.parametrize("sandbox", ["auto", "none"])
def test_validate_runs_the_page_checks_on_the_null_control_and_the_reference(tmp_path, sandbox):
    result = validate_canary(validate_page_canary(tmp_path, THROWS, GOOD), sandbox=sandbox)
    assert result.ok, result.problems
    assert (result.null_control, result.reference) == ("fails", "passes")
    assert result.page_lines == [
        "null control (repo/): FAILS",
        ("  page:web/index.html: no_console_errors: the page logged 1 problem while loading: uncaught "
         "exception: ReferenceError: renderCards is not defined (desktop, phone)"),
        "reference (solution/): passes"]


def test_validate_names_a_reference_page_that_fails_its_checks(tmp_path):
    result = validate_canary(validate_page_canary(tmp_path, THROWS, BLANK), sandbox="none")
    assert result.reference == "FAILS"
    assert result.problems == [
        ("reference: page check page:web/index.html: not_blank: the page is blank at the desktop and "
         "phone viewports: no visible text and nothing drawn")]


def test_validate_a_null_control_that_passes_the_page_checks_too_is_a_problem(tmp_path):
    result = validate_canary(validate_page_canary(tmp_path, GOOD, GOOD), sandbox="none")
    assert result.null_control == "PASSES"
    assert "null control: the untouched repo passes the checks" in result.problems
