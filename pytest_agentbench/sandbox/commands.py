"""Running model-written shell commands and verification checks.

Every command runs in its own session (process group) so that a timeout, or a background
process the model left behind, is killed as a whole tree. Output is captured while it streams,
keeping only a head and a tail: measured `yes` reaching 4.4 GiB RSS in 11 s under an
uncapped ``communicate()``.

Two tiers: ``bubblewrap`` (an OS sandbox: user namespace with every capability dropped, no
network, own PID/IPC/UTS namespaces, a read-only root built from an allow-list of system
directories (no canary directory, results or home is there), sized tmpfs /tmp and /dev/shm, only the
worktree and a scratch home writable, the git directories read-only, cleared environment) and
``none`` (a process group and a cleared environment only; confinement then rests on the file
tools). Both apply :class:`~pytest_agentbench.sandbox.limits.SandboxLimits`; a limit a command ran into is
named at the end of its output, so the model can react.
"""

from __future__ import annotations

import functools
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pytest_agentbench.sandbox.jail import JailBroken, JailedCommand, PersistentJail
from pytest_agentbench.sandbox.limits import (
    CappedBuffer,
    PidsCgroup,
    SandboxLimits,
    TreeMeter,
    growth_note,
    limit_notes,
    open_pids_cgroup,
    rlimit_prefix,
)

DEFAULT_OUTPUT_CAP = 16_000  # characters kept per command (half head, half tail)
BWRAP = "bwrap"
GROWTH_POLL_SECONDS = 1.0  # how often a running command's worktree growth is measured


@dataclass
class Sandbox:
    """Where one attempt's commands run: a bubblewrap jail (``jail``) or plain ``/bin/sh``, with
    its limits. Created once per attempt: worktree growth counts from that moment."""

    writable: list[Path]  # the worktree and the scratch home
    readonly: list[Path]  # e.g. the baseline repository's git directory
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    jail: bool = True
    # One jail for all of the attempt's commands (sandbox/jail.py) instead of one per command; the
    # agent's shell uses it, verification checks do not (one check: nothing to share).
    persistent: bool = False
    start_bytes: int = field(init=False, default=0)
    last_end: float = field(init=False, default=0.0)  # wall clock: when the last command ended
    _jail: PersistentJail | None = field(init=False, default=None, repr=False)
    # The writable trees' usage, kept from inotify events; None while no command runs (between
    # tries: a watch costs a kernel object) or when neither growth nor file size is limited.
    _meter: TreeMeter | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.last_end = time.time()
        if self.limits.growth is not None or self.limits.file_size is not None:
            self._meter = TreeMeter(self.writable)
            self.start_bytes = self._meter.total

    def argv(self, command: str, cwd: Path, env: dict[str, str]) -> list[str]:
        shell = [*rlimit_prefix(self.limits, in_user_namespace=self.jail), "/bin/sh", "-c", command]
        return self.jail_argv(cwd, env, shell) if self.jail else shell

    def jail_argv(self, cwd: Path, env: dict[str, str], inner: list[str],
                  binds: tuple[tuple[Path, str], ...] = (),
                  readonly_binds: tuple[tuple[Path, str], ...] = ()) -> list[str]:
        """bwrap arguments that run ``inner`` in this sandbox's jail; ``binds`` are writable
        host paths mounted at the given jail paths, ``readonly_binds`` read-only ones (an
        external agent's proxy socket: it still accepts connections)."""
        args = [BWRAP, "--unshare-all", "--unshare-user", "--cap-drop", "ALL",  # root too
                "--die-with-parent", "--new-session", *system_root(), "--dev", "/dev"]
        # bwrap's /dev is a writable, unsized tmpfs: give /dev/shm its own sized one, then make
        # /dev itself read-only (device nodes such as /dev/null still work).
        args += [*self._size(), "--tmpfs", "/dev/shm", "--remount-ro", "/dev", "--proc", "/proc",
                 # After the tmpfs: worktrees usually live under /tmp themselves.
                 *self._size(), "--tmpfs", "/tmp"]
        for path in interpreter_paths():
            # The Python running pytest (`python -m pytest` in the checks) may live under /tmp
            # too, e.g. a virtualenv in a CI checkout: keep it visible, read-only.
            args += ["--ro-bind", str(path), str(path)]
        for path in self.writable:
            args += ["--bind", str(path), str(path)]
        for path in self.readonly:
            if path.exists():  # the worktree's .git pointer file stays read-only inside too
                args += ["--ro-bind", str(path), str(path)]
        for source, target in binds:
            args += ["--bind", str(source), target]
        for source, target in readonly_binds:
            args += ["--ro-bind", str(source), target]
        # The jail's own root (a tmpfs holding the mount points) is read-only too: a write to
        # /root or /opt must fail, not land in a scratch file system the model thinks is the host.
        args += ["--remount-ro", "/", "--chdir", str(cwd), "--clearenv"]
        for key, value in env.items():
            args += ["--setenv", key, value]
        return [*args, "--", *inner]

    def persistent_jail(self, cwd: Path, env: dict[str, str]) -> PersistentJail:
        """The running jail, started on first use (and again after a command broke it)."""
        if self._jail is None or self._jail.broken:
            self._jail = PersistentJail(self, cwd, env)
        return self._jail

    def close(self) -> None:
        """End the persistent jail, if one runs: nothing of the agent's runs on into verification.
        The watches go too; a later command (the next try) counts from a walk of the trees."""
        if self._jail is not None:
            self._jail.close()
            self._jail = None
        if self._meter is not None:
            self._meter.close()
            self._meter = None

    def _size(self) -> list[str]:
        if self.limits.tmp_size is None or not bwrap_has_size():
            return []
        return ["--size", str(self.limits.tmp_size)]

    def growth(self, settled: bool = False) -> tuple[int, list[tuple[Path, int]]]:
        """Bytes the writable paths grew by since the attempt began, and the files at the size
        limit written since the last command ended (so each is reported once). ``settled``: the
        command is over and none of its processes runs."""
        if self.limits.growth is None and self.limits.file_size is None:
            return 0, []
        if self._meter is None:
            self._meter = TreeMeter(self.writable)
        used, big = self._meter.usage(self.limits.file_size, self.last_end, settled=settled)
        return used - self.start_bytes, big


# The jail's root is built from this allow-list, not from the host's root with holes: canary
# directories (solution/, hidden/), the results database, transcripts, other attempts' trees and
# the user's home are simply not there. Toolchains under /usr, /opt... are; add a path a check
# needs by naming it in verify.run (see check_paths).
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc")


@functools.lru_cache(maxsize=1)
def system_root() -> tuple[str, ...]:
    """bwrap arguments for the allow-listed system directories (merged-/usr links kept as links)."""
    args: list[str] = []
    for name in SYSTEM_DIRS:
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return tuple(args)


def check_paths(commands: list[str], hidden_from_jail: list[Path],
                home: Path | None = None) -> list[Path]:
    """Absolute paths the checks name (``--node-modules`` written into a canary, a toolchain
    outside /usr): they are bound read-only into the jail, unless one of them would reveal
    ``hidden_from_jail`` (canary directories, the results: neither inside nor above them) or the
    whole ``home`` (a path above it; a named path inside it is fine)."""
    import shlex

    found: list[Path] = []
    for command in commands:
        try:
            tokens = shlex.split(command)
        except ValueError:
            tokens = command.split()
        for token in tokens:
            value = token.split("=", 1)[1] if "=" in token and not token.startswith("/") else token
            if not value.startswith("/") or value == "/":
                continue
            path = Path(value)
            if not path.exists() or any(_overlaps(path, secret) for secret in hidden_from_jail):
                continue
            if home is not None and (path.resolve() == home.resolve() or path.resolve() in home.resolve().parents):
                continue
            if path not in found:
                found.append(path)
    return found


def _overlaps(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents


@functools.lru_cache(maxsize=1)
def interpreter_paths() -> tuple[Path, ...]:
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).parent,
             Path(sys.executable).resolve().parent}
    return tuple(sorted(p for p in paths if p.exists() and p != Path("/")))


@functools.lru_cache(maxsize=1)
def bwrap_has_size() -> bool:
    """Whether this bwrap can size a tmpfs (``--size``); older ones leave /tmp unsized."""
    try:
        proc = subprocess.run([BWRAP, "--help"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"--size" in proc.stdout + proc.stderr


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
    output: str  # ends with a line per limit the command ran into
    timed_out: bool
    truncated_bytes: int
    seconds: float
    limits_hit: list[str] = field(default_factory=list)  # names of SandboxLimits fields

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
    """Run ``command`` with ``sh -c`` (never a login shell: rc files cost ~100 ms a call).

    Without a ``sandbox`` it runs unjailed, with the default limits but no growth accounting.
    """
    started = time.monotonic()
    limits = sandbox.limits if sandbox else SandboxLimits()
    runner_note = ""
    if sandbox is not None and sandbox.jail and sandbox.persistent:
        try:
            process: _Process = sandbox.persistent_jail(cwd, env).start(command, cwd, env)
        except JailBroken:  # it died between commands: one fresh start, then give up loudly
            process = sandbox.persistent_jail(cwd, env).start(command, cwd, env)
        cgroup = None
    else:
        process, cgroup = _start_local(command, cwd, env, limits, sandbox)
    buffer, timed_out, stopped = stream_output(process, started + timeout, output_cap, sandbox)
    exit_code = None if timed_out else process.returncode
    if isinstance(process, JailedCommand):
        pids_hit = process.pids_limit_hit()
        if process.runner_lost:
            runner_note = ("[agentbench: this command killed the sandbox's command runner; the next "
                           "command starts in a fresh sandbox with an empty /tmp]")
    else:
        pids_hit = cgroup is not None and cgroup.limit_hit()
    output = buffer.text()
    grown, big = sandbox.growth(settled=True) if sandbox else (0, [])
    if sandbox:
        sandbox.last_end = time.time()
    notes = limit_notes(limits, exit_code, output, jailed=bool(sandbox and sandbox.jail), big_files=big,
                        roots=sandbox.writable if sandbox else [cwd], pids_hit=pids_hit)
    if cgroup is not None:
        cgroup.close()
    if limits.growth is not None and (stopped or grown > limits.growth):
        notes["growth"] = growth_note(limits.growth, grown, stopped)
    if runner_note:
        notes["runner"] = runner_note
    if notes:
        output = output + ("" if not output or output.endswith("\n") else "\n") + "\n".join(notes.values())
    return CommandResult(
        command=command,
        exit_code=exit_code,
        output=output,
        timed_out=timed_out,
        truncated_bytes=buffer.dropped,
        seconds=time.monotonic() - started,
        limits_hit=[name for name in notes if name != "runner"],
    )


class LocalProcess:
    """A command started here (one jail per command, or none): ``Popen`` in the shape that
    ``stream_output`` shares with :class:`~pytest_agentbench.sandbox.jail.JailedCommand`."""

    def __init__(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        self.proc = proc
        self.fd = proc.stdout.fileno()

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def poll(self) -> int | None:
        return self.proc.poll()

    def kill_tree(self) -> None:
        _kill_group(self.proc)

    def wait(self) -> int | None:
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return self.proc.wait()


_Process = LocalProcess | JailedCommand


def _start_local(command: str, cwd: Path, env: dict[str, str], limits: SandboxLimits,
                 sandbox: Sandbox | None) -> tuple[LocalProcess, PidsCgroup | None]:
    if sandbox:
        argv = sandbox.argv(command, cwd, env)
    else:
        argv = [*rlimit_prefix(limits, in_user_namespace=False), "/bin/sh", "-c", command]
    cgroup = open_pids_cgroup(limits)
    if cgroup is not None:
        argv = cgroup.wrap(argv)
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except BaseException:
        if cgroup is not None:
            cgroup.close()
        raise
    return LocalProcess(proc), cgroup


def stream_output(proc: _Process, deadline: float, output_cap: int, sandbox: Sandbox | None,
            should_stop: Callable[[], bool] | None = None) -> tuple[CappedBuffer, bool, bool]:
    """Read the command's output until EOF, the deadline, the growth limit or ``should_stop``
    (checked every 0.2 s at most); then end its tree. Returns the output, whether the deadline
    hit, and whether the growth limit or ``should_stop`` stopped it."""
    buffer = CappedBuffer(output_cap)
    timed_out = stopped = False
    growth_limit = sandbox.limits.growth if sandbox else None
    next_poll = time.monotonic() + GROWTH_POLL_SECONDS
    # poll(2) rather than a selector: no epoll instance to create, register and close per command.
    poller = select.poll()
    fd = proc.fd
    poller.register(fd, select.POLLIN)
    shell_exited_at: float | None = None
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                break
            if growth_limit is not None and sandbox is not None and now >= next_poll:
                # Between polls a command can write at most ~1 s worth of disk bandwidth more.
                next_poll = now + GROWTH_POLL_SECONDS
                if sandbox.growth()[0] > growth_limit:
                    stopped = True
                    break
            if should_stop is not None and should_stop():
                stopped = True
                break
            if shell_exited_at is None and proc.poll() is not None:
                shell_exited_at = now
            if shell_exited_at is not None and now - shell_exited_at > 0.2:
                # The shell is gone but something it started still holds the pipe open
                # (`sleep 100 &`, `yes &`): nothing may outlive the command, so end the group.
                proc.kill_tree()
            if poller.poll(max(min(deadline - now, 0.2), 0) * 1000):
                chunk = os.read(fd, 65536)
                if not chunk:
                    break  # EOF: every writer of the pipe is gone
                buffer.feed(chunk)
    finally:
        proc.kill_tree()
        proc.wait()
    return buffer, timed_out, stopped


@dataclass
class Jail:
    """Where the browser runs, as the checks do (attempt/verify.py); a judge check's page is rendered in it: ``wrap(argv)`` → the argv in the
    sandbox (unchanged in the ``none`` tier), a writable directory for its profile, the checks'
    environment (never the harness's: a ``serve`` command is the agent's code) and directory."""

    wrap: Callable[[list[str]], list[str]]
    scratch: Path
    env: dict[str, str]
    cwd: Path
