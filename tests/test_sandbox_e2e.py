"""Hostile scripted models against the sandbox: what a model's commands (and its conftest.py,
run by the checks) may do stays inside the worktree, reaches no network, stays within the
limits — and every attempt still ends in a classified outcome."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from pytest_agentbench.attempt.outcome import Outcome
from pytest_agentbench.sandbox.commands import bubblewrap_problem, bwrap_has_size
from pytest_agentbench.sandbox.limits import SandboxLimits, pids_cgroup_base, process_limit_enforced
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import agent_requests

pytestmark = pytest.mark.skipif(bool(bubblewrap_problem()), reason=f"no bubblewrap: {bubblewrap_problem()}")
TIERS = ["bubblewrap", "none"]
CLASSIFIED = {o.value for o in Outcome} - {Outcome.INFRA_ERROR.value}


def run_shell(bench, server_script, *args, tier="bubblewrap"):
    bench.canary(run=["true"], expect_changed=["*"])
    with ScriptedServer(server_script) as server:
        return server, bench.run(server, "--agentbench-sandbox", tier, *args)


def tool_outputs(server) -> list[str]:
    """What the model was shown for each tool call (in full, not the transcript's excerpt)."""
    return [m["content"] for m in agent_requests(server)[-1]["messages"] if m.get("role") == "tool"]


def classified(bench) -> dict:
    """The single attempt, checked to have ended in an outcome that describes the model."""
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] in CLASSIFIED, attempt["detail"]
    return attempt


def processes_matching(marker: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


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


@pytest.mark.parametrize("option", ["none", "process"])  # process: the tier's earlier name
def test_no_sandbox_is_announced_loudly(bench, option):
    bench.canary()
    with ScriptedServer([say("x")]) as server:
        result = bench.run(server, "--agentbench-sandbox", option)
    result.stdout.fnmatch_lines(["*WARNING: NO OS SANDBOX (*"])
    assert bench.report()["environment"]["sandbox"] == "none"


def test_bad_limits_are_a_usage_error(bench):
    bench.canary()
    with ScriptedServer([say("x")]) as server:
        result = bench.run(server, "--agentbench-sandbox-limits", "memory=lots")
    result.stderr.fnmatch_lines(["*--agentbench-sandbox-limits: memory: 'lots' is not a positive size*"])


# --- runaway commands -------------------------------------------------------------------------


@pytest.mark.parametrize("tier", TIERS)
def test_endless_output_is_capped_and_cut_by_the_timeout(bench, tier):
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with_yes = [call("shell", command="yes", timeout=1), say("Done.")]
    server, _ = run_shell(bench, with_yes, tier=tier)
    (output,) = tool_outputs(server)
    assert output.startswith("[timed out]") and "bytes of output omitted" in output
    assert len(output) < 17_000
    # ru_maxrss (KiB) is a high-water mark: an uncapped capture would have raised it by GiBs.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 200 * 1024
    assert classified(bench)["outcome"] == "phantom"  # a final message and no change


@pytest.mark.parametrize("tier", TIERS)
def test_a_background_process_does_not_outlive_the_attempt(bench, tier):
    marker = f"agentbench-marker-{uuid.uuid4().hex}"
    sleeper = f"sh -c 'sleep 1000; : {marker}' >/dev/null 2>&1 &"
    # A setsid child leaves the process group: only the jail's PID namespace or a cgroup ends it.
    escapes_group = tier == "bubblewrap" or pids_cgroup_base() is not None
    command = f"{sleeper} {('setsid ' + sleeper) if escapes_group else ''} echo started"
    try:
        server, _ = run_shell(bench, [call("shell", command=command), call("shell", command="echo second"),
                                      say("Done.")], tier=tier)
        assert processes_matching(marker) == []
        assert tool_outputs(server)[0].startswith("[exit code 0]")
        classified(bench)
    finally:
        for pid in processes_matching(marker):  # only if the test failed: leave nothing running
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("tier", TIERS)
def test_a_100_mb_file_is_stopped_at_the_file_size_limit(bench, tier):
    workdir = bench.pytester.path / "wt"
    script = [call("shell", command="head -c 100M /dev/zero > big; ls -l big"), say("Done.")]
    server, _ = run_shell(bench, script, "--agentbench-workdir", str(workdir), tier=tier)
    (output,) = tool_outputs(server)
    assert "[file size limit 64 MiB exceeded: big]" in output and str(64 * 2**20) in output
    assert classified(bench)["files_changed"] == ["big"]
    # The worktrees (under workdir) are gone with the run; the jail's /tmp was a tmpfs.
    assert [p for p in bench.pytester.path.rglob("*") if p.is_file() and p.stat().st_size >= 2**20] == []


def test_worktree_growth_is_reported_and_stops_the_command(bench):
    write = "for i in 1 2 3 4 5 6; do head -c 30M /dev/zero > f$i; done; sleep 5; echo unreachable"
    server, _ = run_shell(bench, [call("shell", command=write), call("shell", command="rm f*; echo ok"),
                                  say("Done.")], "--agentbench-sandbox-limits", "growth=100M")
    first, second = tool_outputs(server)
    assert "[worktree growth limit 100 MiB exceeded" in first and "unreachable" not in first
    assert second.startswith("[exit code 0]") and "growth" not in second  # the model cleaned up
    classified(bench)


@pytest.mark.skipif(not bwrap_has_size(), reason="this bwrap cannot size a tmpfs")
def test_tmp_is_a_small_tmpfs_inside_the_jail(bench):
    fill = "for i in 1 2 3; do head -c 10M /dev/zero > /tmp/f$i || exit 1; done"
    server, _ = run_shell(bench, [call("shell", command=fill), say("Done.")],
                          "--agentbench-sandbox-limits", "tmp_size=16M")
    (output,) = tool_outputs(server)
    assert "No space left on device" in output and "[/tmp and /dev/shm hold 16 MiB each]" in output
    classified(bench)


@pytest.mark.parametrize("tier", TIERS)
def test_a_huge_allocation_is_refused(bench, tier):
    hog = "python -c 'x = bytearray(8 * 2**30)'"
    server, _ = run_shell(bench, [call("shell", command=hog), say("Done.")], tier=tier)
    (output,) = tool_outputs(server)
    assert "MemoryError" in output and "[memory limit 4 GiB per process: an allocation was refused]" in output
    classified(bench)


@pytest.mark.parametrize("tier", TIERS)
def test_a_fork_bomb_is_bounded_by_the_process_limit(bench, tier):
    limits = SandboxLimits(processes=64)
    if not process_limit_enforced(limits, jailed=tier == "bubblewrap"):
        pytest.skip("no process limit can be enforced here (root without a writable pids cgroup, "
                    "or the none tier as a normal user): a fork bomb would not be bounded")
    bomb = "b() { b | b & }; b; sleep 1; echo survived"
    server, _ = run_shell(bench, [call("shell", command=bomb, timeout=10), say("Done.")],
                          "--agentbench-sandbox-limits", "processes=64", tier=tier)
    (output,) = tool_outputs(server)
    assert "[process limit 64 reached: a fork was refused]" in output
    classified(bench)


# --- escapes through the file tools ----------------------------------------------------------


def test_file_tools_refuse_paths_out_of_the_worktree(bench, tmp_path):
    name = f"x-{uuid.uuid4().hex}"
    workdir = bench.pytester.path / "wt"
    script = [call("write_file", path=f"../{name}", content="a"), call("write_file", path=f"/tmp/{name}", content="b"),
              call("write_file", path="inside.txt", content="c"), say("Done.")]
    server, _ = run_shell(bench, script, "--agentbench-keep-worktrees", "--agentbench-workdir", str(workdir))
    outputs = tool_outputs(server)
    assert "escapes the repository" in outputs[0] and "absolute paths are not allowed" in outputs[1]
    assert not Path("/tmp", name).exists() and not any(workdir.rglob(name))
    assert classified(bench)["files_changed"] == ["inside.txt"]


def test_a_symlink_escape_is_refused_by_the_file_tools_and_jailed_in_the_shell(bench):
    name = f"escape-{uuid.uuid4().hex}"
    links = (f"ln -s /etc e; ln -s / r; echo x > r/tmp/{name}; echo tmp=$?; echo y > r/root/{name}; "
             f"echo root=$?; echo z > r/etc/{name}; echo etc=$?; head -c 5 e/hostname >/dev/null; echo read=$?")
    script = [call("shell", command=links), call("read_file", path="e/passwd"),
              call("write_file", path=f"e/{name}", content="pwned"), call("write_file", path=f"r/tmp/{name}", content="p"),
              call("edit_file", path="e/hostname", old="a", new="b"), say("Done.")]
    server, _ = run_shell(bench, script)
    shell, *file_tools = tool_outputs(server)
    assert "tmp=0" in shell and "root=0" not in shell and "etc=0" not in shell  # /tmp: the jail's tmpfs
    assert all("escapes the repository" in out for out in file_tools), file_tools
    assert not any(Path(d, name).exists() for d in ("/tmp", "/root", "/etc"))
    classified(bench)
