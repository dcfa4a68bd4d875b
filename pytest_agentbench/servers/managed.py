"""Servers the plugin starts itself: start, wait for health, share, restart, stop.

One server per model per session, shared by every xdist worker: the first process that needs it
takes a file lock, starts it and writes a state file; the others read the state file and reuse
it. The controller stops every server of its run at session end — also on Ctrl-C.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.servers.http import http_client

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: SIGTERM the server when the process that started it dies, so a crashed or killed
    pytest (SIGKILL leaves no chance to clean up) cannot leave a model server running."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class ServerStartError(AgentbenchError):
    """A managed server could not be started; the message says why and how to fix it."""


@dataclass
class ServerState:
    name: str
    run_id: str
    pid: int
    port: int
    base_url: str
    log: str
    restarts: int = 0

    def to_json(self) -> str:
        return json.dumps(self.__dict__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still "exists"; treat an exited child as dead.
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True  # not our child: kill(0) is all we can know
    return waited == 0


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def wait_healthy(url: str, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    with http_client(timeout=2.0) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerStartError(
                    f"server exited with code {process.returncode} while starting; log {log}:\n"
                    f"{log_tail(log)}"
                )
            try:
                if http.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
    stop_process(process.pid)
    raise ServerStartError(f"server not healthy at {url} after {timeout:.0f}s; log {log}:\n{log_tail(log)}")


def stop_process(pid: int, grace: float = 5.0) -> None:
    """SIGTERM the server's process group, then SIGKILL what is left after ``grace``."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.05)


class ServerPool:
    """Managed servers of one run, keyed by model name; safe to use from several processes."""

    def __init__(self, state_dir: Path, run_id: str) -> None:
        self.state_dir = state_dir
        self.run_id = run_id

    def _paths(self, name: str) -> tuple[Path, Path]:
        safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)
        return self.state_dir / f"{safe}.lock", self.state_dir / f"{safe}.json"

    def _read(self, state_file: Path) -> ServerState | None:
        try:
            state = ServerState(**json.loads(state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        return state if state.run_id == self.run_id else None

    def ensure(self, name: str, command: list[str] | Callable[[], list[str]], port: int,
               health_path: str, start_timeout: float, max_restarts: int = 2) -> ServerState:
        """Return the running server for ``name``, starting (or restarting) it when needed.

        ``command`` may be a function that makes the command line: it is called only when a server
        has to start, under the lock — a model file it downloads is downloaded by one process
        while the others wait, and never when the server already runs."""
        lock, state_file = self._paths(name)
        with _locked(lock):
            state = self._read(state_file)
            if state is not None and pid_alive(state.pid):
                return state
            restarts = 0
            if state is not None:  # it ran in this run and died: restart, within limits
                restarts = state.restarts + 1
                if restarts > max_restarts:
                    raise ServerStartError(
                        f"managed server for {name!r} died {restarts} times; giving up. "
                        f"Last log {state.log}:\n{log_tail(Path(state.log))}"
                    )
            if callable(command):
                command = command()
            log = self.state_dir / f"{state_file.stem}.log"
            with log.open("ab") as handle:
                handle.write(f"\n--- starting: {' '.join(command)}\n".encode())
                handle.flush()
                try:
                    process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL, start_new_session=True,
                                               preexec_fn=_die_with_parent)
                except OSError as exc:
                    raise ServerStartError(f"cannot run {command[0]!r}: {exc}") from None
            base = f"http://127.0.0.1:{port}"
            wait_healthy(base + health_path, process, start_timeout, log)
            state = ServerState(name=name, run_id=self.run_id, pid=process.pid, port=port,
                                base_url=base + "/v1", log=str(log), restarts=restarts)
            state_file.write_text(state.to_json())
            return state

    def current(self, name: str) -> ServerState | None:
        return self._read(self._paths(name)[1])

    def stop_all(self) -> None:
        for state_file in sorted(self.state_dir.glob("*.json")):
            state = self._read(state_file)
            if state is not None:
                stop_process(state.pid)
                state_file.unlink(missing_ok=True)
