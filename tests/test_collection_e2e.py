"""Collection, options and xdist, end to end through pytester."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path

import pytest

from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE, agent_requests, seeded

GOOD = [call("write_file", path="hello.py", content=HELLO_SOURCE), say("Done.")]
PHANTOM = [say("All done, hello.py is written.")]


def test_items_are_canary_by_model_by_repeat_in_a_stable_order(bench):
    bench.canary("alpha")
    bench.canary("beta", tier="medium")
    with ScriptedServer(GOOD) as server:
        result = bench.run(server, "--collect-only", "-qq", models="m1,m2", repeats=2)
    lines = [line for line in result.outlines if "::" in line]
    assert lines == [
        f"canaries/{c}/canary.toml::{c}[{m}-r{r}]"
        for c in ("alpha", "beta") for m in ("m1", "m2") for r in (0, 1)
    ]


def test_canary_subdirectories_are_not_collected_as_tests(bench):
    bench.canary(repo={"test_visible.py": "def test_x():\n    assert False\n"},
                 hidden={"test_hidden.py": "def test_y():\n    assert False\n"})
    with ScriptedServer(GOOD) as server:
        result = bench.run(server, "--collect-only", "-qq")
    assert "test_visible" not in result.stdout.str() and "test_hidden" not in result.stdout.str()
    assert "hello[m-r0]" in result.stdout.str()
    result.stdout.fnmatch_lines(["1 test collected*"])


def test_tier_selection_deselects_other_tiers(bench):
    bench.canary("small", tier="lite")
    bench.canary("big", tier="heavy")
    with ScriptedServer(GOOD) as server:
        result = bench.run(server, "--tier", "heavy", "--collect-only", "-qq")
    assert "big[m-r0]" in result.stdout.str() and "small[" not in result.stdout.str()
    result.stdout.fnmatch_lines(["1/2 tests collected (1 deselected)*"])


def test_tier_is_a_marker_and_tags_are_keywords(bench):
    bench.canary("small", tier="lite")
    bench.canary("big", tier="heavy")
    with ScriptedServer(GOOD) as server:
        by_marker = bench.run(server, "-m", "lite", "--collect-only", "-qq")
        by_keyword = bench.run(server, "-k", "python and big", "--collect-only", "-qq")
    assert "small[m-r0]" in by_marker.stdout.str() and "big[" not in by_marker.stdout.str()
    assert "big[m-r0]" in by_keyword.stdout.str() and "small[" not in by_keyword.stdout.str()


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('tier = "lite"\nprompt = "x"\ncolour = "red"\n[verify]\nrun = ["true"]\n',
         "canary.toml:3: field 'colour': unknown field"),
        ('tier = "giant"\nprompt = "x"\n[verify]\nrun = ["true"]\n',
         "canary.toml:1: field 'tier': Input should be 'lite', 'medium', 'heavy' or 'integrity'"),
        ('tier = "lite"\n[verify]\nrun = ["true"]\n', "canary.toml: field 'prompt': Field required"),
        ('tier = "lite"\nprompt = "x"\n[verify]\nrun = ["true"]\nexpect_chnged = ["a.py"]\n',
         "canary.toml:5: field 'verify.expect_chnged': unknown field; did you mean 'expect_changed'?"),
        ('tier = "lite"\nprompt = "x\n', "canary.toml: invalid TOML"),
        ('tier = "lite"\nprompt = "x"\n[budget]\nturns = 0\n[verify]\nrun = ["true"]\n',
         "canary.toml:4: field 'budget.turns': Input should be greater than 0"),
        ('tier = "lite"\nprompt = "x"\n', "field 'verify': needs at least one of 'run', 'expect_changed' or 'judge'"),
        ('tier = "lite"\nprompt = "x"\ntools = ["read_file", "fly"]\n[verify]\nrun = ["true"]\n',
         "canary.toml:3: field 'tools': unknown tool(s) ['fly']"),
    ],
)
def test_malformed_canary_is_a_clear_collection_error(bench, toml, expected):
    bench.canary("broken", toml=toml)
    bench.canary("fine")
    with ScriptedServer(GOOD) as server:
        result = bench.run(server)
    result.stdout.fnmatch_lines(["*ERROR collecting canaries/broken/canary.toml*"])
    assert expected in result.stdout.str()
    assert "Traceback" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED  # pytest stops on collection errors


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--repeats", "0"], "*--repeats: must be at least 1*"),
        (["--repeats", "many"], "*--repeats: 'many' is not a whole number*"),
        (["--tier", "giant"], "*--tier: unknown tier(s) ?'giant'?*"),
        (["--agentbench-base-url", "ftp://x"], "*is not an http(s) URL*"),
        (["--models", "bad name"], "*a model name must start with a letter or digit*"),
        (["--agentbench-max-turns", "lots"], "*--agentbench-max-turns: 'lots' is not a number*"),
        (["--agentbench-request-timeout", "0"], "*--agentbench-request-timeout: must be at least 0.001*"),
        (["--agentbench-retries", "nan"], "*--agentbench-retries: 'nan' is not a number*"),
        (["--agentbench-sandbox", "docker"], "*--agentbench-sandbox: 'docker': choose auto, bubblewrap or none*"),
        (["--agentbench-gate", "upper"], "*--agentbench-gate: 'upper': choose point or lower*"),
    ],
)
def test_bad_option_values_are_usage_errors(pytester, args, message):
    result = pytester.runpytest("--models", "m", *args)
    result.stderr.fnmatch_lines([message])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_an_ini_value_is_typed_like_its_option(pytester):
    """Options are declared once with their type: the ini twin is read through the same parser."""
    pytester.makeini("[pytest]\nagentbench_max_seconds = -5\n")
    result = pytester.runpytest("--models", "m")
    result.stderr.fnmatch_lines(["*--agentbench-max-seconds: must be at least 0.001*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_without_models_the_embedded_model_is_the_default(bench):
    bench.canary()
    result = bench.pytester.runpytest("canaries", "--collect-only", "-q")
    assert "hello[embedded-r0]" in result.stdout.str()
    result.stdout.fnmatch_lines(["3 tests collected*"])


def test_plugin_is_inert_in_ordinary_test_runs(pytester):
    pytester.makepyfile("def test_ok():\n    assert True\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "agentbench" not in result.stdout.str().split("plugins:")[0]


def test_ini_twins(bench):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        bench.pytester.makeini(f"[pytest]\nagentbench_models = m@{server.url}\nagentbench_repeats = 2\n")
        result = bench.pytester.runpytest("canaries", "--collect-only", "-q")
    assert "hello[m-r0]" in result.stdout.str() and "hello[m-r1]" in result.stdout.str()
    result.stdout.fnmatch_lines(["2 tests collected*"])


def test_default_endpoint_comes_from_the_environment(bench, monkeypatch):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        monkeypatch.setenv("AGENTBENCH_BASE_URL", server.url)
        result = bench.pytester.runpytest("canaries", "--models", "plain", "--repeats", "1")
    result.assert_outcomes(passed=1)
    assert agent_requests(server)[0]["model"] == "plain"


def test_keep_worktrees_leaves_the_attempts_tree_for_inspection(bench):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        bench.run(server, "--agentbench-keep-worktrees",
                  "--agentbench-workdir", str(bench.pytester.path / "wt"))
    worktree = bench.report()["attempts"][0]["worktree"]
    assert worktree and (bench.pytester.path / "wt") in Path(worktree).parents
    assert (Path(worktree) / "hello.py").read_text() == HELLO_SOURCE


def test_worktrees_are_removed_by_default(bench):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        bench.run(server, "--agentbench-workdir", str(bench.pytester.path / "wt"))
    assert not any((bench.pytester.path / "wt").iterdir())


def test_transcript_records_every_turn(bench):
    import json

    bench.canary()
    with ScriptedServer(GOOD) as server:
        bench.run(server)
    attempt = bench.report()["attempts"][0]
    events = [json.loads(line) for line in Path(attempt["transcript"]).read_text().splitlines()]
    assert [e["event"] for e in events] == ["attempt", "start", "turn", "turn", "stop", "result"]
    assert events[2]["tool_results"][0]["tool"] == "write_file"
    assert events[-1]["outcome"] == "passed"
    assert Path(attempt["transcript"]).parent.parent.name == bench.report()["run_id"]


def test_json_report_has_every_contract_field(bench):
    bench.canary()
    with ScriptedServer({"good": GOOD, "phantom": PHANTOM}) as server:
        bench.run(server, models="good,phantom", repeats=3)
    report = bench.report()
    assert report["schema_version"] == 1
    for key in ("run_id", "started", "finished", "environment", "models", "attempts", "summary"):
        assert key in report
    assert set(report["environment"]) >= {"python", "platform", "plugin_version"}
    assert set(report["models"]) == {"good", "phantom"}
    assert set(report["models"]["good"]) >= {"base_url", "model", "server"}
    contract = {"canary", "tier", "model", "variant", "repeat", "outcome", "detail", "turns",
                "prompt_tokens", "completion_tokens", "wall_seconds", "tool_calls",
                "malformed_tool_calls", "files_changed", "claimed_done"}
    assert len(report["attempts"]) == 6
    for attempt in report["attempts"]:
        assert contract <= set(attempt)
    rows = {row["model"]: row for row in report["summary"]}
    assert rows["good"]["n"] == 3 and rows["good"]["c"] == 3 and rows["good"]["pass_at_1"] == 1.0
    assert rows["phantom"]["c"] == 0 and rows["phantom"]["pass_at_1"] == 0.0
    for row in rows.values():
        assert row["ci_low"] <= row["pass_at_1"] <= row["ci_high"]
        assert {"variant", "canary", "pass_hat_k"} <= set(row)


def test_summary_per_model(bench):
    bench.canary()
    # seeded: each repeat's reply differs (its own seed), so the interval counts 3 samples
    with ScriptedServer({"good": seeded(GOOD), "phantom": seeded(PHANTOM)}) as server:
        result = bench.run(server, models="good,phantom", repeats=3)
    result.stdout.fnmatch_lines([
        "*agentbench summary*",
        "model*tier*n*pass@1*95% CI*pass@3*pass^3*flaky*turns✓*malf%*phan%*tamp%",
        "good*lite*3*1.00*?0.44, 1.00?*1.00*1.00*0*2.0*0",
        "* passed=3",
        "phantom*lite*3*0.00*?0.00, 0.56?*0.00*0.00*0*-*-*100*0",
        "* phantom=3",
    ])
    assert "anecdotal" not in result.stdout.str()


def test_xdist_gives_the_same_results_as_a_serial_run(bench):
    pytest.importorskip("xdist")
    bench.canary("alpha")
    bench.canary("beta")
    with ScriptedServer({"good": GOOD, "phantom": PHANTOM}) as server:
        serial = bench.run(server, models="good,phantom", repeats=2)
        serial_report = bench.report()
        parallel = bench.run(server, "-n", "2", models="good,phantom", repeats=2)
        parallel_report = bench.report()
    serial.assert_outcomes(passed=4, failed=4)
    parallel.assert_outcomes(passed=4, failed=4)

    def key(report):
        return sorted((a["canary"], a["model"], a["repeat"], a["outcome"], tuple(a["files_changed"]))
                      for a in report["attempts"])

    assert key(serial_report) == key(parallel_report)
    assert serial_report["summary"] == parallel_report["summary"]
    # all workers wrote into the controller's run directory
    dirs = {Path(a["transcript"]).parent.parent.name for a in parallel_report["attempts"]}
    assert dirs == {parallel_report["run_id"]}
    parallel.stdout.fnmatch_lines(["*agentbench summary*", "good * lite * 4 * 1.00*", "phantom * lite * 4 * 0.00*"])


def test_ctrl_c_keeps_every_finished_attempt(bench):
    bench.canary()
    # Interrupt the session right after the second attempt finishes, as a Ctrl-C would.
    bench.pytester.makeconftest(
        "seen = []\n"
        "def pytest_runtest_logfinish(nodeid):\n"
        "    seen.append(nodeid)\n"
        "    if len(seen) == 2:\n"
        "        raise KeyboardInterrupt\n"
    )
    with ScriptedServer(GOOD) as server:
        result = bench.run(server, repeats=4, subprocess=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    report = bench.report()
    assert report["interrupted"] is True
    assert [a["repeat"] for a in report["attempts"]] == [0, 1]
    assert all(a["outcome"] == "passed" for a in report["attempts"])


def test_registry_entries_in_pyproject(bench):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        bench.pytester.makepyprojecttoml(
            "[tool.agentbench.models.fast]\n"
            f'base_url = "{server.url}"\n'
            'model = "qwen2.5-coder:7b-instruct"\n'
            "temperature = 0.2\nseed = 7\nmax_tokens = 512\n"
            'extra_body = { top_k = 20 }\n'
        )
        result = bench.pytester.runpytest("canaries", "--models", "fast", "--repeats", "1")
    result.assert_outcomes(passed=1)
    sent = agent_requests(server)[0]
    assert sent["model"] == "qwen2.5-coder:7b-instruct"
    assert (sent["temperature"], sent["seed"], sent["max_tokens"], sent["top_k"]) == (0.2, 7, 512, 20)


def test_invalid_registry_entry_names_the_key(bench):
    bench.pytester.makepyprojecttoml('[tool.agentbench.models.fast]\ntemprature = 0.2\n')
    result = bench.pytester.runpytest("--models", "fast")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pyproject.toml: ?tool.agentbench.models.fast?: key 'temprature': unknown key*"])


@pytest.mark.parametrize(
    ("args", "exit_status", "lines"),
    [
        (["--agentbench-fail-under", "good:0.9"], 0, ["passed good pass rate >= 0.9: pass rate 1.000 (3/3)"]),
        (["--agentbench-fail-under", "phantom:0.5"], 1,
         ["FAILED phantom pass rate >= 0.5: pass rate 0.000 (0/3), short by 0.500"]),
        (["--agentbench-fail-under", "good:0.9", "--agentbench-gate", "lower"], 1,
         ["FAILED good pass rate >= 0.9: lower 95% bound 0.439 (3/3), short by 0.461"]),
        (["--agentbench-fail-under", "heavy:0.1"], 1, ["FAILED heavy pass rate >= 0.1: no scored attempts*"]),
    ],
)
def test_gates_decide_the_exit_status(bench, args, exit_status, lines):
    bench.canary()
    # seeded: three different conversations, so the lower gate's interval counts 3 samples
    with ScriptedServer({"good": seeded(GOOD), "phantom": seeded(PHANTOM)}) as server:
        result = bench.run(server, *args, models="good,phantom", repeats=3)
    assert result.ret == exit_status  # phantom attempts failed, yet a passing gate exits 0
    result.stdout.fnmatch_lines(["*agentbench gates*", *lines])
    report = bench.report()
    assert report["gates"][0]["ok"] is (exit_status == 0)
    rows = {row["model"]: row for row in report["summary"]}
    assert rows["good"]["pass_at_1"] == 1.0 and rows["phantom"]["pass_at_1"] == 0.0
    for row in rows.values():
        assert row["ci_low"] <= row["pass_at_1"] <= row["ci_high"]


def test_junit_xml_carries_outcome_turns_and_tokens(bench):
    import xml.etree.ElementTree as ET

    bench.canary()
    with ScriptedServer(PHANTOM) as server:
        bench.run(server, "--junitxml", "junit.xml")
    case = ET.parse(bench.pytester.path / "junit.xml").getroot().find(".//testcase")
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert properties["agentbench_outcome"] == "phantom"
    assert properties["agentbench_turns"] == "1" and int(properties["agentbench_tokens"]) > 0


def test_group_by_model_keeps_a_model_on_one_worker(bench):
    pytest.importorskip("xdist")
    bench.canary("alpha")
    bench.canary("beta")
    with ScriptedServer({"good": GOOD, "phantom": PHANTOM}) as server:
        result = bench.run(server, "-n", "2", "--agentbench-group-by-model", models="good,phantom", repeats=2)
    result.assert_outcomes(passed=4, failed=4)
    workers: dict[str, set[str]] = {}
    for line in result.outlines:
        if line.startswith("[gw") and "::" in line:
            worker, _, rest = line.partition("]")
            model = rest.split("[")[-1].split("-r")[0]
            workers.setdefault(model, set()).add(worker)
    assert workers and all(len(found) == 1 for found in workers.values()), workers


def test_sigterm_mid_attempt_keeps_finished_attempts_and_cleans_up(bench, tmp_path):
    bench.canary()
    # SIGTERM one second into the third attempt, while its shell command is still running.
    bench.pytester.makeconftest(
        "import os, signal, threading\n"
        "seen = []\n"
        "def pytest_runtest_logstart(nodeid, location):\n"
        "    seen.append(nodeid)\n"
        "    if len(seen) == 3:\n"
        "        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()\n"
    )
    probe = "sleep 2 && echo agentbench-sigterm-probe"
    script = [call("shell", command=probe), *GOOD]
    workdir = tmp_path / "work"
    with ScriptedServer(script) as server:
        result = bench.run(server, "--agentbench-workdir", str(workdir), repeats=4, subprocess=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    report = bench.report()
    assert report["interrupted"] is True
    assert [(a["repeat"], a["outcome"]) for a in report["attempts"]] == [(0, "passed"), (1, "passed")]
    leftover = subprocess.run(["pgrep", "-f", "agentbench-sigterm-probe"], capture_output=True)
    assert leftover.stdout == b""
    assert list(workdir.rglob("worktrees/*")) == []  # worktrees and scratch homes are gone


def test_html_report_is_self_contained_and_escapes_model_output(bench):
    bench.canary("hello", run=["echo '<script>alert(1)</script>'; exit 1"])
    with ScriptedServer({"good": GOOD, "phantom": PHANTOM}) as server:
        result = bench.run(server, "--agentbench-html", "report.html", models="good,phantom", repeats=2)
    result.stdout.fnmatch_lines(["HTML report: *report.html"])
    page = (bench.pytester.path / "report.html").read_text()
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # Nothing to fetch, it works offline: the only links are the charts' own (SVG markers, #id).
    assert "src=" not in page and re.findall(r'href="([^#"][^"]*)"', page) == []
    assert 'xlink:href="#' in page
    for text in ("Per model and tier", "good", "phantom", ">failed<", f"Attempts ({4})"):
        assert text in page, text
    # the same page from the results database
    from pytest_agentbench.cli import main

    run_id = bench.report()["run_id"]
    db = bench.pytester.path / ".agentbench" / "results.sqlite"
    assert main(["report", run_id, "--db", str(db), "--html", str(bench.pytester.path / "again.html")]) == 0
    again = (bench.pytester.path / "again.html").read_text()
    assert "&lt;script&gt;alert(1)" in again and f"agentbench run {run_id}" in again


def closed_port_url() -> str:
    """A loopback URL where nothing listens (a port just given back by the kernel)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.mark.parametrize(("name", "meant"), [("embeded", "embedded"), ("fsat", "fast")])
def test_a_mistyped_model_name_sent_to_an_unreachable_default_endpoint_says_the_name_meant(
        bench, monkeypatch, name, meant):
    bench.canary()
    bench.pytester.makepyprojecttoml('[tool.agentbench.models.fast]\nbase_url = "http://127.0.0.1:9/v1"\n')
    monkeypatch.setenv("AGENTBENCH_BASE_URL", closed_port_url())
    result = bench.pytester.runpytest("canaries", "--models", name, "--repeats", "1",
                                      "--agentbench-retries", "0", "--agentbench-json", "report.json")
    result.assert_outcomes(errors=1)
    hint = f"--models {name!r}: did you mean {meant!r}?"
    result.stdout.fnmatch_lines([f"*PROBLEM: {hint}*"])
    problems = [line for line in result.stdout.lines if "PROBLEM:" in line]
    assert problems[0].split("PROBLEM: ", 1)[1].startswith(hint)  # the likelier cause first
    assert any("cannot reach" in line for line in problems)  # ... and what happened, as before
    [attempt] = json.loads((bench.pytester.path / "report.json").read_text())["attempts"]
    assert attempt["detail"].startswith(f"server preflight failed: {hint}")
    assert "cannot reach" in attempt["detail"]


def test_an_unknown_model_name_close_to_none_keeps_the_plain_unreachable_error(bench, monkeypatch):
    bench.canary()
    monkeypatch.setenv("AGENTBENCH_BASE_URL", closed_port_url())
    result = bench.pytester.runpytest("canaries", "--models", "qwen2.5-coder:7b", "--repeats", "1",
                                      "--agentbench-retries", "0", "--agentbench-json", "report.json")
    result.assert_outcomes(errors=1)
    assert "did you mean" not in result.stdout.str()
    [attempt] = json.loads((bench.pytester.path / "report.json").read_text())["attempts"]
    assert attempt["detail"].startswith("server preflight failed: cannot reach")


def test_a_mistyped_name_with_its_own_url_gets_no_guess(bench):
    # An explicit @URL says the user runs that server under that name: nothing to correct.
    bench.canary()
    url = closed_port_url()
    result = bench.pytester.runpytest("canaries", "--models", f"embeded@{url}", "--repeats", "1",
                                      "--agentbench-retries", "0")
    result.assert_outcomes(errors=1)
    assert "did you mean" not in result.stdout.str()
