"""Command execution: process groups, timeouts and capped output."""

from __future__ import annotations

import time
from pathlib import Path

from pytest_agentbench.sandbox.commands import command_env, run_command


def run(command: str, tmp_path: Path, timeout: float = 5, cap: int = 16_000):
    return run_command(command, tmp_path, timeout, command_env(tmp_path), output_cap=cap)


def test_exit_code_and_output(tmp_path):
    result = run("echo out; echo err >&2; exit 3", tmp_path)
    assert result.exit_code == 3 and not result.timed_out
    assert result.output == "out\nerr\n"


def test_endless_output_is_capped_and_killed(tmp_path):
    result = run("yes", tmp_path, timeout=1, cap=1000)
    assert result.timed_out and result.exit_code is None
    assert result.truncated_bytes > 0
    assert len(result.output) < 1200 and "bytes of output omitted" in result.output


def test_background_children_do_not_outlive_the_command(tmp_path):
    marker = tmp_path / "still-running"
    started = time.monotonic()
    result = run(f"(sleep 2; touch {marker}) & echo started", tmp_path, timeout=10)
    assert result.exit_code == 0 and time.monotonic() - started < 1.5
    time.sleep(2.5)
    assert not marker.exists()


def test_python_on_path_is_the_one_running_pytest(tmp_path):
    import sys

    result = run("python -c 'import sys; print(sys.executable)'", tmp_path)
    assert Path(result.output.strip()).resolve() == Path(sys.executable).resolve()


# --- limits -----------------------------------------------------------------------------------

import os
import resource

import pytest

from pytest_agentbench.run.session import AgentbenchSession, Settings
from pytest_agentbench.sandbox.commands import Sandbox, bubblewrap_problem
from pytest_agentbench.sandbox.limits import (
    MiB,
    SandboxLimits,
    pids_cgroup_base,
    unenforced_limits,
)

needs_bwrap = pytest.mark.skipif(bool(bubblewrap_problem()), reason="no bubblewrap")
SHOW_LIMITS = ("python -c 'import resource as r; print(*(r.getrlimit(getattr(r, n))[1] for n in "
               "(\"RLIMIT_DATA\", \"RLIMIT_FSIZE\", \"RLIMIT_CORE\")))'")


def sandbox(tmp_path: Path, jail: bool, **limits) -> Sandbox:
    (tmp_path / "wt").mkdir(exist_ok=True)
    (tmp_path / "home").mkdir(exist_ok=True)
    return Sandbox([tmp_path / "wt", tmp_path / "home"], [], limits=SandboxLimits(**limits), jail=jail)


def test_limits_parse_their_own_spec_and_refuse_nonsense():
    assert SandboxLimits.parse(SandboxLimits().spec()) == SandboxLimits()
    assert SandboxLimits().spec() == "memory=4GiB,processes=512,file_size=64MiB,tmp_size=256MiB,growth=1GiB"
    parsed = SandboxLimits.parse("memory=4G, processes=512, growth=off, tmp-size=1gib, file_size=1024")
    assert parsed == SandboxLimits(memory=4 << 30, processes=512, file_size=1024, tmp_size=1 << 30, growth=None)
    for bad in ("memory=0", "memory=1.5G", "processes=1k", "swap=1G", "memory"):
        with pytest.raises(ValueError):
            SandboxLimits.parse(bad)


@pytest.mark.parametrize("jail", [pytest.param(True, marks=needs_bwrap), False])
def test_rlimits_are_set_in_both_tiers(tmp_path, jail):
    box = sandbox(tmp_path, jail, memory=300 * MiB, file_size=5 * MiB)
    result = run_command(SHOW_LIMITS, tmp_path / "wt", 10, command_env(tmp_path / "home"), sandbox=box)
    assert result.output.split() == [str(300 * MiB), str(5 * MiB), "0"]


@needs_bwrap
def test_a_jailed_command_cannot_raise_its_hard_limits(tmp_path):
    raise_it = "python -c 'import resource as r; r.setrlimit(r.RLIMIT_FSIZE, (r.RLIM_INFINITY,) * 2)'"
    result = run_command(raise_it, tmp_path / "wt", 10, command_env(tmp_path / "home"),
                         sandbox=sandbox(tmp_path, True))
    assert result.exit_code == 1 and "not allowed to raise maximum limit" in result.output


@needs_bwrap
def test_dev_is_read_only_and_shm_sized_inside_the_jail(tmp_path):
    command = "echo x > /dev/evil; echo dev=$?; head -c 2M /dev/zero > /dev/shm/x; echo shm=$?; echo ok > /dev/null"
    result = run_command(command, tmp_path / "wt", 10, command_env(tmp_path / "home"),
                         sandbox=sandbox(tmp_path, True, tmp_size=1 * MiB))
    assert "dev=0" not in result.output and "shm=0" not in result.output and result.exit_code == 0


def test_a_file_at_the_size_limit_is_named_once(tmp_path):
    box = sandbox(tmp_path, False, file_size=1 * MiB)
    env = command_env(tmp_path / "home")
    first = run_command("head -c 3M /dev/zero > out.bin; ls -l out.bin", tmp_path / "wt", 10, env, sandbox=box)
    assert first.limits_hit == ["file_size"] and first.output.endswith("[file size limit 1 MiB exceeded: out.bin]")
    assert (tmp_path / "wt" / "out.bin").stat().st_size == MiB
    later = run_command("true", tmp_path / "wt", 10, env, sandbox=box)
    assert later.limits_hit == [] and later.output == ""


def test_growth_counts_from_the_sandbox_and_skips_links(tmp_path):
    box = sandbox(tmp_path, False, growth=2 * MiB)
    (tmp_path / "wt" / "root").symlink_to("/")  # a link to / must not count / itself
    env = command_env(tmp_path / "home")
    result = run_command("head -c 3M /dev/urandom > a; head -c 1M /dev/urandom > $HOME/b", tmp_path / "wt", 10, env,
                         sandbox=box)
    assert result.limits_hit == ["growth"] and "grew by 4" in result.output
    usage = sum(os.lstat(os.path.join(d, n)).st_blocks * 512  # the tree as left, links not followed
                for d, dirs, files in os.walk(tmp_path / "wt") for n in dirs + files)
    assert usage < 5 * MiB
    assert run_command("rm a $HOME/b", tmp_path / "wt", 10, env, sandbox=box).limits_hit == []


def test_pids_cgroups_are_removed_after_each_command(tmp_path):
    base = pids_cgroup_base()
    if base is None:
        pytest.skip("no writable cgroup-v1 pids controller (or not root)")
    result = run_command("sleep 100 >/dev/null 2>&1 & setsid sleep 100 >/dev/null 2>&1 & echo ok",
                         tmp_path, 10, command_env(tmp_path), sandbox=sandbox(tmp_path, False))
    assert result.output == "ok\n"
    assert list(base.glob(f"agentbench-{os.getpid()}-*")) == []  # and with them, both sleeps


def test_unenforced_limits_are_named():
    limits = SandboxLimits()
    assert unenforced_limits(limits, jailed=True, sized_tmpfs=False).get("tmp_size") == "this bwrap has no --size"
    assert "tmp_size" not in unenforced_limits(limits, jailed=False, sized_tmpfs=False)  # no jail, no tmpfs
    assert unenforced_limits(SandboxLimits(processes=None), jailed=False, sized_tmpfs=True).get("processes") is None
    if os.geteuid() != 0:
        assert "processes" in unenforced_limits(limits, jailed=False, sized_tmpfs=True)


@pytest.mark.parametrize("option", ["none", "process"])
def test_the_none_tier_banner_is_loud_and_names_the_limits(option, tmp_path):
    session = AgentbenchSession(Settings(models=[], repeats=1, tiers=[], sandbox=option), run_id="r")
    assert session.sandbox_tier == "none"
    banner = session.sandbox_banner()
    assert banner[0].startswith("agentbench: WARNING: NO OS SANDBOX (--agentbench-sandbox none)")
    assert banner[1] == ("agentbench: limits per command: memory 4 GiB/process, processes 512, "
                         "file size 64 MiB, /tmp 256 MiB, worktree growth 1 GiB")
    box = session.sandbox_for(tmp_path, tmp_path, tmp_path / ".git")
    assert not box.jail and box.limits == SandboxLimits()
    env = session.sandbox_environment()
    assert env["sandbox"] == "none" and env["sandbox_limits"]["memory"] == 4 << 30


def test_memory_limit_is_data_not_address_space(tmp_path):
    # RLIMIT_AS is left as it was: reservations (JVM heaps, V8) do not count, writable memory does.
    show = "python -c 'import resource as r; print(r.getrlimit(r.RLIMIT_AS)[1])'"
    result = run_command(show, tmp_path, 10, command_env(tmp_path), sandbox=sandbox(tmp_path, False))
    assert result.output == f"{resource.getrlimit(resource.RLIMIT_AS)[1]}\n"
