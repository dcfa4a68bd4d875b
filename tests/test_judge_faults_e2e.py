"""Whose fault a judge check without a judge's verdict is, end to end: what the model under test
left that cannot be captured fails the attempt (counted in n), a link where an artifact goes is
tampering, and only the harness's or a server's fault is ``infra_error``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_agentbench.judging.artifacts import MODEL, TAMPERED, capture
from pytest_agentbench.schemas.judge import JudgeSpec
from pytest_agentbench.testing import ScriptedServer, call, http_error, raw, say
from tests.conftest import HELLO_SOURCE
from tests.test_judge_e2e import CODER, DEFECT, biased_judge, judge_toml, registry, requests_of


def needs_browser() -> None:
    from pytest_agentbench.judging.page import find_browser

    if find_browser() is None:
        pytest.skip("no chromium, chromium-browser or google-chrome on PATH (AGENTBENCH_CHROMIUM unset)")


def coder(*steps: dict) -> list[dict]:
    """A model under test that passes the deterministic check, then does ``steps``."""
    return [call("write_file", path="hello.py", content=HELLO_SOURCE), *steps, say("Done.")]


def judged_run(bench, script: list[dict], artifact: str, *args: str, extra: str = "",
               judges: dict | None = None):
    models = judges if judges is not None else {"vl": [say(DEFECT)], "big": biased_judge}
    with ScriptedServer({"m": script, **models}) as server:
        bench.canary(toml=judge_toml(artifact=artifact, extra=extra))
        registry(bench, server)
        result = bench.run(server, *args)
    report = bench.report()
    [attempt] = report["attempts"]
    [row] = [r for r in report["aggregates"] if r["tier"] == "all"]
    return result, attempt, row, server


def assert_models_not_asked(server: ScriptedServer) -> None:
    # Nothing to judge: no describer or judge time is spent on it.
    assert requests_of(server, "vl") == requests_of(server, "big") == []


def test_a_report_the_model_never_wrote_fails_the_attempt_and_counts_in_n(bench):
    result, attempt, row, server = judged_run(bench, coder(), "file:report.txt")
    result.assert_outcomes(failed=1)
    assert attempt["outcome"] == "failed"
    [judge] = attempt["judges"]
    assert judge["verdict"] == "not_captured"
    assert judge["reason"] == "there is no file 'report.txt' in the tree"
    assert "judge check 'file:report.txt' (big): not_captured: there is no file 'report.txt'" in attempt["detail"]
    assert (row["n"], row["c"], row["infra_errors"]) == (1, 0, 0)
    assert_models_not_asked(server)
    rows = bench.report()["judges"]
    assert [(r["not_captured"], r["error"], r["approval_rate"]) for r in rows] == [(1, 0, None)]


def test_a_directory_where_the_report_goes_fails_the_attempt(bench):
    script = coder(call("write_file", path="web/report/part.txt", content="Basic | Pro"))
    result, attempt, _, server = judged_run(bench, script, "file:web/report")
    result.assert_outcomes(failed=1)
    assert attempt["judges"][0]["verdict"] == "not_captured"
    assert attempt["judges"][0]["reason"] == ("file 'web/report' is a directory: an artifact must "
                                              "be a regular file")
    assert_models_not_asked(server)


@pytest.mark.parametrize("sandbox", ["bubblewrap", "none"])
def test_a_page_that_spins_forever_fails_the_attempt(bench, sandbox):
    needs_browser()
    page = "<body><p>Pricing</p><script>while (true) {}</script></body>"
    script = coder(call("write_file", path="web/index.html", content=page))
    result, attempt, row, server = judged_run(bench, script, "page:web/index.html",
                                              "--agentbench-sandbox", sandbox, extra="timeout = 2")
    result.assert_outcomes(failed=1)
    [judge] = attempt["judges"]
    assert judge["verdict"] == "not_captured", judge
    assert re.match(r"the page did not (start|finish) loading within 2s at the desktop viewport: its "
                    r"scripts kept it busy", judge["reason"]), judge["reason"]
    assert (row["n"], row["infra_errors"]) == (1, 0)
    assert_models_not_asked(server)


@pytest.mark.parametrize("sandbox", ["bubblewrap", "none"])
def test_a_command_artifact_that_exits_non_zero_fails_the_attempt(bench, sandbox):
    result, attempt, row, server = judged_run(bench, CODER, "command:sh -c 'echo render broke; exit 1'",
                                              "--agentbench-sandbox", sandbox)
    result.assert_outcomes(failed=1)
    [judge] = attempt["judges"]
    assert judge["verdict"] == "not_captured"
    assert judge["reason"] == "`sh -c 'echo render broke; exit 1'` exited 1; its output ends: render broke"
    assert (row["n"], row["infra_errors"]) == (1, 0)
    assert_models_not_asked(server)


@pytest.mark.parametrize("link, artifact, reason", [
    ("ln -s /etc/passwd report.txt", "file:report.txt",
     "file 'report.txt' is a link to '/etc/passwd': an artifact must be a regular file"),
    # Inside the tree, too: another file passed off as the report.
    ("ln -s hello.py report.txt", "file:report.txt",
     "file 'report.txt' is a link to 'hello.py': an artifact must be a regular file"),
    ("ln -s /etc web", "page:web/hostname",
     "page 'web/hostname' is a link (through web) to '/etc': an artifact must be a regular file"),
])
def test_a_link_where_the_artifact_goes_is_tampering(bench, link, artifact, reason):
    result, attempt, row, server = judged_run(bench, coder(call("shell", command=link)), artifact)
    result.assert_outcomes(failed=1)
    assert attempt["outcome"] == "tampered", attempt["detail"]
    [judge] = attempt["judges"]
    assert (judge["verdict"], judge["reason"]) == ("tampered", reason)
    assert (row["n"], row["infra_errors"]) == (1, 0)
    assert_models_not_asked(server)


@pytest.mark.parametrize("reply", [
    http_error(500, "internal error"),
    raw({"error": {"message": "CUDA out of memory", "code": 500}}),  # an error body with a 200
])
def test_a_judge_server_fault_is_an_infra_error(bench, reply):
    judges = {"vl": [say(DEFECT)], "big": lambda body: reply}
    result, attempt, row, _ = judged_run(bench, CODER, "file:report.txt", judges=judges)
    result.assert_outcomes(errors=1)
    assert attempt["outcome"] == "infra_error"
    [judge] = attempt["judges"]
    assert judge["verdict"] == "error" and judge["reason"].startswith("big: ")
    assert (row["n"], row["infra_errors"]) == (0, 1)  # left out of n: the measurement failed


def test_no_browser_is_an_infra_error_not_the_models(bench, monkeypatch):
    monkeypatch.setenv("AGENTBENCH_CHROMIUM", "no-such-browser")
    page = "<body><p>Pricing</p></body>"
    script = coder(call("write_file", path="web/index.html", content=page))
    result, attempt, row, _ = judged_run(bench, script, "page:web/index.html")
    result.assert_outcomes(errors=1)
    [judge] = attempt["judges"]
    assert judge["verdict"] == "error" and "no Chromium found" in judge["reason"]
    assert (row["n"], row["infra_errors"]) == (0, 1)


# Capture alone, in a plain directory standing for the verification tree.

def spec(artifact: str, **fields) -> JudgeSpec:
    return JudgeSpec(artifact=artifact, criteria="c", judge="big", mode="direct", **fields)


def grab(tree: Path, artifact: str, run=lambda command: (0, ""), **fields):
    return capture(spec(artifact, **fields), tree, run, lambda: "")


@pytest.mark.parametrize("content, reason", [
    ("", "page 'index.html' is empty"),
    (" \n", "page 'index.html' is empty"),
    # The app never drew anything: an empty root, a script that failed before rendering.
    ('<body><div id="root"></div><script>mount()</script></body>',
     ("the page is blank at every viewport: no text and nothing drawn (the browser logged: desktop: "
      "uncaught exception: ReferenceError: mount is not defined; phone: uncaught exception: "
      "ReferenceError: mount is not defined)")),
])
def test_an_empty_or_blank_page_is_the_models(tmp_path, content, reason):
    if content.strip():
        needs_browser()
    (tmp_path / "index.html").write_text(content)
    artifact = grab(tmp_path, "page:index.html")
    assert (artifact.fault, artifact.error) == (MODEL, reason)


@pytest.mark.parametrize("content", [
    '<body><canvas width="40" height="40"></canvas></body>',
    '<body><div style="width:40px;height:40px;background:#c00"></div></body>',
])
def test_a_page_with_no_text_that_draws_something_is_not_blank(tmp_path, content):
    needs_browser()
    (tmp_path / "index.html").write_text(content)
    artifact = grab(tmp_path, "page:index.html")
    assert artifact.error == "" and len(artifact.images) == 2


def test_a_page_whose_script_loops_after_loading_never_settles(tmp_path):
    needs_browser()
    # Busy only once loaded: the load event itself fires.
    (tmp_path / "index.html").write_text("<body><p>Hi</p><script>addEventListener('load', () => "
                                         "setTimeout(() => { while (true) {} }, 0))</script></body>")
    artifact = grab(tmp_path, "page:index.html", timeout=2)
    assert artifact.fault == MODEL
    assert artifact.error.startswith("the page did not settle after loading within 2s")


def test_a_command_artifact_that_times_out_is_the_models(tmp_path):
    artifact = grab(tmp_path, "command:python render.py", run=lambda command: (None, "rendering...\n"))
    assert (artifact.fault, artifact.error) == (MODEL, "`python render.py` timed out; its output ends: rendering...")


def test_a_link_the_model_made_is_tampering_even_when_the_tree_has_the_file(tmp_path):
    # The verification tree never gets the model's links; the change names them.
    (tmp_path / "report.txt").write_text("from the baseline")
    artifact = capture(spec("file:report.txt"), tmp_path, lambda c: (0, ""), lambda: "",
                       links={"report.txt": "../secret"})
    assert artifact.fault == TAMPERED and "is a link to '../secret'" in artifact.error


@pytest.mark.parametrize("artifact", ["file:/etc/passwd", "page:../outside.html", "file:a/../../b"])
def test_an_artifact_path_outside_the_repository_is_a_load_error(artifact):
    with pytest.raises(ValueError, match="a path relative to the repository, inside it"):
        spec(artifact)
