"""The persistent jail (jail.py): one bubblewrap jail per attempt, every shell command forked by a
runner inside it — with the same guarantees as a jail per command, tried as a hostile command."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from pytest_agentbench.sandbox.commands import Sandbox, bubblewrap_problem, command_env, run_command
from pytest_agentbench.sandbox.limits import MiB, SandboxLimits

pytestmark = pytest.mark.skipif(bool(bubblewrap_problem()), reason="no bubblewrap")


@pytest.fixture
def box(tmp_path: Path):
    (tmp_path / "wt").mkdir()
    (tmp_path / "home").mkdir()
    sandbox = Sandbox([tmp_path / "wt", tmp_path / "home"], [], persistent=True,
                      limits=SandboxLimits(memory=300 * MiB, file_size=5 * MiB))
    yield sandbox
    sandbox.close()


def shell(box: Sandbox, command: str, timeout: float = 10):
    root = box.writable[0]
    return run_command(command, root, timeout, command_env(box.writable[1]), sandbox=box)


def jail_pid(box: Sandbox) -> int:
    assert box._jail is not None
    return box._jail.proc.pid


def test_commands_share_one_jail_and_its_tmp(box):
    first = shell(box, "echo one > /tmp/note; echo $$")
    pid = jail_pid(box)
    second = shell(box, "cat /tmp/note; pwd")
    assert first.ok and second.output.splitlines() == ["one", str(box.writable[0])]
    assert jail_pid(box) == pid  # no second jail


def test_rlimits_apply_and_cannot_be_raised(box):
    shown = shell(box, "python -c 'import resource as r; print(*(r.getrlimit(getattr(r, n))[1] for n in "
                       "(\"RLIMIT_DATA\", \"RLIMIT_FSIZE\", \"RLIMIT_CORE\")))'")
    assert shown.output.split() == [str(300 * MiB), str(5 * MiB), "0"]
    raised = shell(box, "python -c 'import resource as r; r.setrlimit(r.RLIMIT_FSIZE, (r.RLIM_INFINITY,) * 2)'")
    assert raised.exit_code == 1 and "not allowed to raise maximum limit" in raised.output


def test_default_signal_dispositions_like_a_shell_of_its_own(box):
    # Python (the runner) ignores SIGPIPE and SIGXFSZ; the commands must not inherit that.
    piped = shell(box, "yes | head -c 4")
    assert piped.output == "y\ny\n"  # no "Broken pipe" from yes
    big = shell(box, "head -c 20M /dev/zero > big.bin")
    assert big.exit_code == 128 + 25 and big.limits_hit == ["file_size"]  # SIGXFSZ, as in bash


def test_nothing_outlives_a_command_not_even_a_setsid_escape(box):
    marker = box.writable[0] / "late"
    started = time.monotonic()
    result = shell(box, f"(sleep 1; touch {marker}.bg) & setsid sh -c 'sleep 1; touch {marker}.sid' & echo up")
    assert result.output == "up\n" and time.monotonic() - started < 1
    listing = shell(box, "ls /proc | grep -c '^[0-9]'")  # init, runner, sh, ls, grep
    assert int(listing.output) <= 5, listing.output
    time.sleep(1.5)
    assert not list(box.writable[0].glob("late*"))


def test_a_timeout_kills_the_command_and_the_jail_serves_the_next(box):
    pid = jail_pid(box) if box._jail else None
    timed = shell(box, "sleep 30", timeout=0.5)
    assert timed.timed_out and timed.exit_code is None and timed.seconds < 3
    after = shell(box, "echo still here")
    assert after.output == "still here\n" and (pid is None or jail_pid(box) == pid)


def test_a_command_that_kills_the_runner_only_ends_its_own_jail(box):
    shell(box, "touch /tmp/before")
    first_jail = jail_pid(box)
    killer = shell(box, "kill -9 -1; echo survived")  # everything but itself and init
    assert "killed the sandbox's command runner" in killer.output
    assert killer.limits_hit == []
    fresh = shell(box, "ls /tmp; echo ok")
    assert "before" not in fresh.output and fresh.output.endswith("ok\n")  # a fresh jail's /tmp
    assert jail_pid(box) != first_jail


def test_a_command_cannot_reach_the_runners_socket(box):
    # Own fds: only stdin/stdout/stderr (+ ls's directory). The runner is not dumpable, so
    # neither /proc/<runner>/fd nor pidfd_getfd gives its socket away.
    own = shell(box, "ls /proc/self/fd")
    assert own.output.split() == ["0", "1", "2", "3"]
    steal = shell(box, "python -c \"import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); "
                       "pidfd = libc.syscall(434, 2, 0); print(libc.syscall(438, pidfd, 4, 0), pidfd)\"")
    assert steal.output.split()[0] == "-1", steal.output
    forged = shell(box, "for fd in /proc/2/fd/*; do echo '{\"exit\": 0}' > $fd && echo wrote; done; exit 7")
    assert forged.exit_code == 7 and "wrote" not in forged.output


def test_close_ends_the_jail_and_everything_in_it(box):
    shell(box, "true")
    jail = box._jail
    assert jail is not None
    box.close()
    assert jail.proc.returncode is not None and box._jail is None
    # bwrap's PID namespace died with it: no runner of ours is left on the host.
    left = subprocess.run(["pgrep", "-f", f"-c {jail.proc.pid}"], capture_output=True, text=True)
    assert left.stdout.strip() == ""
    assert shell(box, "echo again").output == "again\n"  # a later command starts a new jail


def test_a_jail_that_cannot_start_is_a_recorded_harness_error_not_a_model_failure(bench, monkeypatch):
    import importlib

    from pytest_agentbench.testing import ScriptedServer, call, say

    jail = importlib.import_module("pytest_agentbench.sandbox.jail")  # the module in-process runs use

    def broken(self):
        self.close()  # as the real failure does: nothing of the jail is left running
        raise jail.JailBroken("the persistent jail did not start: simulated")

    monkeypatch.setattr(jail.PersistentJail, "_await_ready", broken)
    bench.canary()
    with ScriptedServer([call("shell", command="ls"), say("Done.")]) as server:
        result = bench.run(server, "--agentbench-sandbox", "bubblewrap")
    result.assert_outcomes(errors=1)  # pytest's "error": the harness, not the model
    [attempt] = bench.report()["attempts"]
    assert attempt["outcome"] == "infra_error" and attempt["stop_reason"] == "harness_error"
    assert "JailBroken" in attempt["detail"] and "simulated" in attempt["detail"]


@pytest.fixture
def big_tree_box(tmp_path: Path):
    """A persistent jail over a worktree of 5,000 files, growth limited to 2 MiB."""
    wt, home = tmp_path / "wt", tmp_path / "home"
    for index in range(5000):
        directory = wt / f"d{index // 100}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"f{index}.py").write_text(f"X = {index}\n")
    home.mkdir()
    sandbox = Sandbox([wt, home], [], persistent=True, limits=SandboxLimits(growth=2 * MiB))
    yield sandbox
    sandbox.close()


def test_growth_past_the_limit_is_reported_and_stopped_at_5000_files(big_tree_box):
    """Counted from inotify events, not a walk of the tree: a new file, a file in a new directory,
    a command that goes on growing (stopped by the poll while it runs) — all still caught."""
    assert big_tree_box._meter is not None and big_tree_box._meter.watching
    assert shell(big_tree_box, "true").limits_hit == []
    first = shell(big_tree_box, "head -c 3M /dev/zero > big")
    assert first.limits_hit == ["growth"] and "grew by 3" in first.output
    assert shell(big_tree_box, "rm big").limits_hit == []
    nested = shell(big_tree_box, "mkdir -p new/deeper && head -c 3M /dev/zero > new/deeper/x")
    assert nested.limits_hit == ["growth"]
    assert shell(big_tree_box, "rm -r new").limits_hit == []
    started = time.monotonic()
    running = shell(big_tree_box, "head -c 3M /dev/zero > d7/grown; sleep 8; echo unreachable", timeout=30)
    assert running.limits_hit == ["growth"] and "the command was stopped" in running.output
    assert "unreachable" not in running.output and time.monotonic() - started < 6
    assert shell(big_tree_box, "rm d7/grown").limits_hit == []
    big_tree_box.close()  # a try ends; the next one counts from a walk, still from the attempt's start
    again = shell(big_tree_box, "head -c 3M /dev/zero > $HOME/again")
    assert again.limits_hit == ["growth"]
