"""Hostile scripted models against the bubblewrap tier: what a model's commands (and its
conftest.py, run by the checks) may do stays inside the worktree, and reaches no network."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from pytest_agentbench.sandbox import bubblewrap_problem
from pytest_agentbench.testing import ScriptedServer, call, say

pytestmark = pytest.mark.skipif(bool(bubblewrap_problem()), reason=f"no bubblewrap: {bubblewrap_problem()}")


def run_shell(bench, server_script, *args):
    bench.canary(run=["true"], expect_changed=["*"])
    with ScriptedServer(server_script) as server:
        return server, bench.run(server, "--agentbench-sandbox", "bubblewrap", *args)


def test_shell_cannot_write_outside_the_worktree(bench, tmp_path):
    outside = tmp_path / f"escape-{uuid.uuid4().hex}"
    home_escape = Path.home() / f".agentbench-escape-{uuid.uuid4().hex}"
    script = [call("shell", command=f"echo x > {outside}; echo y > {home_escape}; echo z > /tmp/t; "
                                    "echo ok > inside.txt; cat /tmp/t"), say("Done.")]
    _, result = run_shell(bench, script)
    assert not outside.exists() and not home_escape.exists()
    attempt = bench.report()["attempts"][0]
    assert attempt["files_changed"] == ["inside.txt"]  # the worktree itself is writable
    assert attempt["outcome"] == "passed"


def test_shell_reaches_no_network(bench):
    with ScriptedServer([say("never asked")]) as bystander:
        url = bystander.url + "/models"
        probe = f"import urllib.request as u; u.urlopen('{url}', timeout=3)"
        script = [call("shell", command=f'python -c "{probe}" 2>/dev/null && echo REACHED || echo BLOCKED'),
                  say("Done.")]
        run_shell(bench, script)
        assert bystander.requests == []  # a GET would not be recorded, so check the output too
    events = [json.loads(line) for line in Path(bench.report()["attempts"][0]["transcript"]).read_text().splitlines()]
    output = next(e for e in events if e["event"] == "turn")["tool_results"][0]["result"]
    assert output.rstrip().endswith("BLOCKED") and "\nREACHED" not in output


def test_git_metadata_is_read_only_inside(bench):
    script = [call("shell", command="git config core.hooksPath /tmp/evil; echo rc=$?; "
                                    "echo '[core]' >> .git; echo rc2=$?"), say("Done.")]
    _, result = run_shell(bench, script, "--agentbench-keep-worktrees",
                          "--agentbench-workdir", str(bench.pytester.path / "wt"))
    attempt = bench.report()["attempts"][0]
    transcript = Path(attempt["transcript"]).read_text()
    assert "rc=0" not in transcript and "rc2=0" not in transcript
    configs = list((bench.pytester.path / "wt").rglob("config"))
    assert configs and all("evil" not in c.read_text() for c in configs)


def test_an_agent_written_conftest_runs_jailed(bench, tmp_path):
    marker = tmp_path / f"conftest-ran-{uuid.uuid4().hex}"
    bench.canary(run=["python -m pytest -q test_ok.py"], expect_changed=["conftest.py"],
                 hidden={"test_ok.py": "def test_ok():\n    assert True\n"})
    evil = f"open({str(marker)!r}, 'w').write('pwned')\n"
    with ScriptedServer([call("write_file", path="conftest.py", content=evil), say("Done.")]) as server:
        bench.run(server, "--agentbench-sandbox", "bubblewrap")
    assert not marker.exists()


def test_process_tier_is_announced_loudly(bench):
    bench.canary()
    with ScriptedServer([say("x")]) as server:
        result = bench.run(server, "--agentbench-sandbox", "process")
    result.stdout.fnmatch_lines(["*WARNING: NO OS SANDBOX (--agentbench-sandbox process)*"])
    assert bench.report()["environment"]["sandbox"] == "process"
