"""One bubblewrap jail per attempt, serving every ``shell`` call of that attempt.

Starting a jail costs 6–9 ms (bwrap, namespaces, mounts) — more than the bare command it runs.
A :class:`PersistentJail` starts once, with a small runner inside (``sandbox/jail_executor.py``), and each
command is then a fork in there: its own session, the attempt's rlimits, the host's deadline,
output cap and growth limit exactly as before (``sandbox.stream_output`` reads the command's pipe), and
after each command every process in the jail but the runner is killed (also ``setsid`` escapes),
so nothing outlives a command. What a command leaves is its files: the worktree, the scratch home
and the jail's ``/tmp``, which now lasts for one ``loop.run()`` (a shell session's lifetime)
instead of one command; the agent's loop closes the jail when a try ends, before verification.

The runner has no more rights than the commands (same user, same namespaces): a command that kills
it only ends its own jail; the host notices, reports the command as killed and starts a fresh jail
for the next one. Verification checks keep one jail per check (usually one check: a persistent
jail would only add the runner's start-up).
"""

from __future__ import annotations

import functools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.sandbox.limits import PidsCgroup, open_pids_cgroup, rlimit_values

if TYPE_CHECKING:
    from pytest_agentbench.sandbox.commands import Sandbox

# The jail's own processes besides the commands: bwrap outside, bwrap's init and the runner.
JAIL_PROCESSES = 3
START_TIMEOUT = 20.0
REPLY_TIMEOUT = 5.0  # for the runner to reap a killed command


class JailBroken(AgentbenchError):
    """The jail's runner is gone or answered nonsense: this jail serves no further command."""


@functools.lru_cache(maxsize=1)
def executor_source() -> str:
    return (Path(__file__).with_name("jail_executor.py")).read_text(encoding="utf-8")


class PersistentJail:
    def __init__(self, sandbox: Sandbox, cwd: Path, env: dict[str, str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        limits = rlimit_values(sandbox.limits, in_user_namespace=True)
        inner = [sys.executable, "-I", "-S", "-c", executor_source(), str(theirs.fileno()), json.dumps(limits)]
        argv = sandbox.jail_argv(cwd, env, inner)
        # One pids cgroup for the jail (root only, where RLIMIT_NPROC cannot bound a fork bomb).
        self.cgroup: PidsCgroup | None = open_pids_cgroup(sandbox.limits, extra=JAIL_PROCESSES)
        if self.cgroup is not None:
            argv = self.cgroup.wrap(argv)
        self.sock = ours
        try:
            self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         pass_fds=(theirs.fileno(),), start_new_session=True)
        except BaseException:
            self._release()
            raise
        finally:
            theirs.close()
        self.broken = False
        # The cgroup's count of refused forks as the last command left it (None: read it afresh).
        # Between commands nothing in the jail forks, so the next command starts from it: one
        # read of pids.events a command instead of two.
        self._events: int | None = None
        self._await_ready()

    def _await_ready(self) -> None:
        ready, _, _ = select.select([self.sock], [], [], START_TIMEOUT)
        if ready and self.sock.recv(4096) == b'{"ready": true}':
            return
        if not ready:
            self._kill()
        self.proc.wait()  # bwrap failed (it says why on stderr) or the runner died at start
        why = self.proc.stderr.read().decode(errors="replace").strip()[:300] if self.proc.stderr else ""
        self.close()
        raise JailBroken(f"the persistent jail did not start: {why or 'no answer'}")

    def start(self, command: str, cwd: Path, env: dict[str, str]) -> JailedCommand:
        """Start ``command``; its output arrives on the returned handle's ``fd``."""
        read_end, write_end = os.pipe()
        try:
            request = {"op": "run", "command": command, "cwd": str(cwd), "env": env}
            socket.send_fds(self.sock, [json.dumps(request).encode()], [write_end])
        except OSError as exc:
            os.close(read_end)
            self.close()
            raise JailBroken(f"the jail is gone: {exc}") from exc
        finally:
            os.close(write_end)
        events_before = 0
        if self.cgroup is not None:
            events_before = self._events if self._events is not None else self.cgroup.events()
        self._events = None
        return JailedCommand(self, read_end, events_before)

    def pids_limit_hit_since(self, events_before: int) -> bool:
        if self.cgroup is None:
            return False
        self._events = self.cgroup.events()
        return self._events > events_before

    def receive_exit(self, timeout: float) -> int | None:
        """The next ``{"exit": code}``, None when none arrived within ``timeout``."""
        if self.broken:
            raise JailBroken("the jail has been closed")
        ready, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not ready:
            return None
        try:
            return int(json.loads(self.sock.recv(4096))["exit"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # EOF (b"") or garbage: the runner is dead or no longer ours to trust.
            self.close()
            raise JailBroken("the jail's command runner stopped") from exc

    def kill_commands(self) -> None:
        """Ask the runner to kill every command process; without a runner, end the jail."""
        if self.broken:
            return
        try:
            self.sock.send(b'{"op": "kill"}')
        except OSError:
            self.close()

    def close(self) -> None:
        """End the jail and everything in it (killing bwrap ends its PID namespace)."""
        proc = getattr(self, "proc", None)
        if proc is not None:
            if proc.returncode is None:
                self._kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
        self._release()

    def _kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _release(self) -> None:
        self.broken = True
        self.sock.close()  # idempotent
        if self.cgroup is not None:
            self.cgroup.close()
            self.cgroup = None


class JailedCommand:
    """A command running in a :class:`PersistentJail`, shaped like the subset of ``Popen`` that
    ``sandbox.stream_output`` uses (``fd``, ``poll``, ``kill_tree``, ``wait``)."""

    def __init__(self, jail: PersistentJail, fd: int, events_before: int) -> None:
        self.jail = jail
        self.fd = fd
        self.events_before = events_before
        self.returncode: int | None = None
        self.runner_lost = False  # the command killed the jail's runner

    def poll(self) -> int | None:
        if self.returncode is None and not self.runner_lost:
            self._receive(0)
        return self.returncode

    def kill_tree(self) -> None:
        if self.runner_lost:
            self.jail.close()
        else:
            self.jail.kill_commands()

    def wait(self) -> int | None:
        deadline = time.monotonic() + REPLY_TIMEOUT
        while self.returncode is None and not self.runner_lost:
            if time.monotonic() >= deadline:
                self.jail.close()  # a runner that does not answer is not trusted again
                self.runner_lost = True
                break
            self._receive(deadline - time.monotonic())
        os.close(self.fd)
        return self.returncode

    def pids_limit_hit(self) -> bool:
        return self.jail.pids_limit_hit_since(self.events_before)

    def _receive(self, timeout: float) -> None:
        try:
            self.returncode = self.jail.receive_exit(timeout)
        except JailBroken:
            self.runner_lost = True
            self.returncode = -signal.SIGKILL
