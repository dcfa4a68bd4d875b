"""Running model-written shell commands and verification checks.

Every command runs in its own session (process group) so that a timeout, or a background
process the model left behind, is killed as a whole tree. Output is captured while it streams,
keeping only a head and a tail: DESIGN §7 measured `yes` reaching 4.4 GiB RSS in 11 s under an
uncapped ``communicate()``.

Two tiers: ``bubblewrap`` (an OS sandbox: user namespace with every capability dropped, no
network, own PID/IPC/UTS namespaces, read-only root, tmpfs /tmp, only the worktree and a scratch
home writable, the git directories read-only, cleared environment) and ``process`` (a process group
and a cleared environment only; confinement then rests on the file tools).
"""

from __future__ import annotations

import functools
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_OUTPUT_CAP = 16_000  # characters kept per command (half head, half tail)
BWRAP = "bwrap"


@dataclass
class Sandbox:
    """A bubblewrap jail for one attempt's commands."""

    writable: list[Path]  # the worktree and the scratch home
    readonly: list[Path]  # e.g. the baseline repository's git directory

    def argv(self, command: str, cwd: Path, env: dict[str, str]) -> list[str]:
        args = [BWRAP, "--unshare-all", "--unshare-user", "--cap-drop", "ALL",  # root too
                "--die-with-parent", "--new-session",
                "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                # After the tmpfs: worktrees usually live under /tmp themselves.
                "--tmpfs", "/tmp"]
        for path in _interpreter_paths():
            # The Python running pytest (`python -m pytest` in the checks) may live under /tmp
            # too, e.g. a virtualenv in a CI checkout: keep it visible, read-only.
            args += ["--ro-bind", str(path), str(path)]
        for path in self.writable:
            args += ["--bind", str(path), str(path)]
        for path in self.readonly:
            if path.exists():  # the worktree's .git pointer file stays read-only inside too
                args += ["--ro-bind", str(path), str(path)]
        args += ["--chdir", str(cwd), "--clearenv"]
        for key, value in env.items():
            args += ["--setenv", key, value]
        return [*args, "--", "/bin/sh", "-c", command]


@functools.lru_cache(maxsize=1)
def _interpreter_paths() -> tuple[Path, ...]:
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).parent,
             Path(sys.executable).resolve().parent}
    return tuple(sorted(p for p in paths if p.exists() and p != Path("/")))


@functools.lru_cache(maxsize=1)
def bubblewrap_problem() -> str | None:
    """Why bubblewrap cannot be used here, or None when a probe jail runs."""
    probe = Sandbox(writable=[], readonly=[]).argv("true", Path("/"), {"PATH": "/usr/bin:/bin"})
    try:
        proc = subprocess.run(probe, capture_output=True, timeout=20)
    except FileNotFoundError:
        return "bwrap is not installed (apt-get install bubblewrap)"
    except subprocess.TimeoutExpired:
        return "the bwrap probe timed out"
    if proc.returncode != 0:
        return f"bwrap failed: {proc.stderr.decode(errors='replace').strip()[:200]}"
    return None


@dataclass
class CommandResult:
    command: str
    exit_code: int | None  # None when killed by the timeout
    output: str
    timed_out: bool
    truncated_bytes: int
    seconds: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def describe(self) -> str:
        """The text a model (or a failure report) sees."""
        status = "timed out" if self.timed_out else f"exit code {self.exit_code}"
        return f"[{status}]\n{self.output}" if self.output else f"[{status}] (no output)"


def command_env(home: Path) -> dict[str, str]:
    """A small, explicit environment: no API keys or tokens from the user's shell leak in.

    The interpreter running pytest comes first on PATH so ``python -m pytest`` in a canary
    works inside a virtualenv. ``-p no:agentbench`` keeps this plugin out of nested pytest runs.
    """
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "python").exists():
        # e.g. pytest run by /usr/bin/python3 with no `python` beside it: give canaries one.
        bin_dir = home / ".agentbench-bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        if not (bin_dir / "python").exists():
            (bin_dir / "python").symlink_to(sys.executable)
    path = os.pathsep.join([str(bin_dir), "/usr/local/bin", "/usr/bin", "/bin"])
    return {
        "PATH": path,
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "dumb",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTEST_ADDOPTS": "-p no:agentbench -p no:cacheprovider",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }


class _CappedBuffer:
    """Keeps the first and last ``cap // 2`` bytes of a stream and counts what it dropped."""

    def __init__(self, cap: int) -> None:
        self.half = max(cap // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail += chunk
        overflow = len(self.tail) - self.half
        if overflow > 0:
            del self.tail[:overflow]
            self.dropped += overflow

    def text(self) -> str:
        head = self.head.decode("utf-8", errors="replace")
        if not self.dropped:
            return head + self.tail.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        return f"{head}\n... [{self.dropped} bytes of output omitted] ...\n{tail}"


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_command(
    command: str,
    cwd: Path,
    timeout: float,
    env: dict[str, str],
    output_cap: int = DEFAULT_OUTPUT_CAP,
    sandbox: Sandbox | None = None,
) -> CommandResult:
    """Run ``command`` with ``sh -c`` (never a login shell: rc files cost ~100 ms a call)."""
    started = time.monotonic()
    argv = sandbox.argv(command, cwd, env) if sandbox else ["/bin/sh", "-c", command]
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    buffer = _CappedBuffer(output_cap)
    deadline = started + timeout
    timed_out = False
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    fd = proc.stdout.fileno()
    shell_exited_at: float | None = None
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                _kill_group(proc)
                break
            if shell_exited_at is None and proc.poll() is not None:
                shell_exited_at = now
            if shell_exited_at is not None and now - shell_exited_at > 0.2:
                # The shell is gone but something it started still holds the pipe open
                # (`sleep 100 &`, `yes &`): nothing may outlive the command, so end the group.
                _kill_group(proc)
            if selector.select(timeout=min(deadline - now, 0.2)):
                chunk = os.read(fd, 65536)
                if not chunk:
                    break  # EOF: every writer of the pipe is gone
                buffer.feed(chunk)
    finally:
        selector.close()
        _kill_group(proc)
        proc.stdout.close()
        proc.wait()
    exit_code = None if timed_out else proc.returncode
    return CommandResult(
        command=command,
        exit_code=exit_code,
        output=buffer.text(),
        timed_out=timed_out,
        truncated_bytes=buffer.dropped,
        seconds=time.monotonic() - started,
    )
