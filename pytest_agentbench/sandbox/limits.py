"""Resource limits for the commands a model runs (shell tool and verification checks).

What each limit rests on, and why (measured on the dev VMs, the docs' "Sandbox"):

* memory: ``RLIMIT_DATA`` per process, not ``RLIMIT_AS``. Address-space limits punish
  reservations that never become memory: under ``RLIMIT_AS`` ``node -e 1`` needs 719 MiB and
  ``java -version`` 4 GiB, under ``RLIMIT_DATA`` 55 MiB and 487 MiB (``python -m pytest`` 87 vs
  71 MiB). ``RLIMIT_DATA`` counts private writable mappings, i.e. what a runaway allocation grows.
* processes: ``RLIMIT_NPROC``, set *inside* the sandbox's user namespace, where the kernel counts
  only that namespace's processes (set before ``bwrap`` it would count every process of the user).
  Root is exempt from ``RLIMIT_NPROC`` whatever its capabilities (the kernel skips the check for
  uid 0), so for root a cgroup-v1 ``pids`` controller is used when writable; else none applies.
  Joining it costs ~2 ms a command, and the next program's start-up ~10 ms more (measured).
* file size: ``RLIMIT_FSIZE``; total growth of the worktree and scratch home: measured after each
  command and every second while one runs, from inotify events (:class:`TreeMeter`: only what
  changed is looked at); ``/tmp`` and ``/dev/shm``: sized tmpfs (bwrap ``--size``).
* output: a head and a tail kept while it streams (:class:`CappedBuffer`).

Limits are set with util-linux ``prlimit`` (an exec, ~1 ms) rather than a ``preexec_fn``, which is
unsafe with threads and forces a full ``fork()`` of the pytest process.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import itertools
import os
import re
import shutil
import signal
import stat
import struct
import threading
import time
import weakref
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

MiB = 1 << 20
GiB = 1 << 30
_UNITS = {"": 1, "k": 1 << 10, "m": MiB, "g": GiB, "t": 1 << 40}


def format_bytes(n: int) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} B"


@dataclass(frozen=True)
class SandboxLimits:
    """Per-command ceilings; ``None`` switches one off."""

    memory: int | None = 4 * GiB  # RLIMIT_DATA, per process
    processes: int | None = 512  # processes and threads per command
    file_size: int | None = 64 * MiB  # RLIMIT_FSIZE, per file written
    tmp_size: int | None = 256 * MiB  # each of /tmp and /dev/shm (bubblewrap tier)
    growth: int | None = 1 * GiB  # worktree + scratch home, over the whole attempt

    @classmethod
    def off(cls) -> SandboxLimits:
        return cls(memory=None, processes=None, file_size=None, tmp_size=None, growth=None)

    @classmethod
    def parse(cls, text: str) -> SandboxLimits:
        """``memory=4G,processes=512,growth=off`` → limits; the rest keep their defaults."""
        limits = cls()
        names = {f.name for f in fields(cls)}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, _, raw = part.partition("=")
            key = key.strip().replace("-", "_")
            if key not in names or not raw.strip():
                raise ValueError(f"{part!r}: expected NAME=VALUE with NAME one of {', '.join(sorted(names))}")
            try:
                limits = replace(limits, **{key: _parse_amount(raw.strip(), key != "processes")})
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return limits

    def to_json(self) -> dict[str, int | None]:
        return asdict(self)

    def spec(self) -> str:
        """The ``parse`` form: ``memory=4GiB,processes=512,...``."""
        return ",".join(f"{k}={'off' if v is None else v if k == 'processes' else format_bytes(v).replace(' ', '')}"
                        for k, v in self.to_json().items())

    def describe(self) -> str:
        def show(name: str, value: int | None, text: str) -> str:
            return f"{name} {text}" if value is not None else f"{name} unlimited"

        return ", ".join([
            show("memory", self.memory, f"{format_bytes(self.memory or 0)}/process"),
            show("processes", self.processes, str(self.processes)),
            show("file size", self.file_size, format_bytes(self.file_size or 0)),
            show("/tmp", self.tmp_size, format_bytes(self.tmp_size or 0)),
            show("worktree growth", self.growth, format_bytes(self.growth or 0)),
        ])


def _parse_amount(raw: str, is_bytes: bool) -> int | None:
    if raw.lower() in ("off", "none", "unlimited"):
        return None
    match = re.fullmatch(r"(\d+)\s*([kmgt]?)(?:i?b)?", raw.lower()) if is_bytes else re.fullmatch(r"(\d+)()", raw)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"{raw!r} is not a positive {'size like 512M or 4G' if is_bytes else 'whole number'}")
    return int(match.group(1)) * _UNITS[match.group(2)]


@functools.lru_cache(maxsize=1)
def prlimit_path() -> str | None:
    return shutil.which("prlimit", path="/usr/bin:/bin:/usr/sbin:/sbin")


def rlimit_values(limits: SandboxLimits, in_user_namespace: bool) -> dict[str, int]:
    """The rlimits a command gets, by ``resource`` name (soft = hard), as ``rlimit_prefix`` sets
    them; {} where they are not applied (no prlimit: reported as unenforced, so not set either).

    Hard limits cannot be raised again without CAP_SYS_RESOURCE in the initial namespace, which
    jailed commands never have. RLIMIT_NPROC only inside a user namespace (see the module doc).
    Core dumps are off: a crashing test must not drop a core file into the worktree.
    """
    if prlimit_path() is None or limits == SandboxLimits.off():
        return {}
    values = {"RLIMIT_CORE": 0}
    if limits.memory is not None:
        values["RLIMIT_DATA"] = limits.memory
    if limits.file_size is not None:
        values["RLIMIT_FSIZE"] = limits.file_size
    if limits.processes is not None and in_user_namespace and os.geteuid() != 0:
        values["RLIMIT_NPROC"] = limits.processes
    return values


_PRLIMIT_OPTIONS = {"RLIMIT_CORE": "--core", "RLIMIT_DATA": "--data", "RLIMIT_FSIZE": "--fsize",
                    "RLIMIT_NPROC": "--nproc"}


def rlimit_prefix(limits: SandboxLimits, in_user_namespace: bool) -> list[str]:
    """``prlimit`` arguments that set :func:`rlimit_values` before ``/bin/sh`` starts."""
    values = rlimit_values(limits, in_user_namespace)
    if not values:
        return []
    return [str(prlimit_path()), *(f"{_PRLIMIT_OPTIONS[name]}={value}" for name, value in values.items()), "--"]


class CappedBuffer:
    """The output limit: keeps the first and last ``cap // 2`` bytes of a stream and counts what it
    dropped (measured: `yes` under an uncapped ``communicate()`` reached 4.4 GiB RSS in 11 s)."""

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


# --- pids cgroup (root only) ------------------------------------------------------------------

_counter = itertools.count()
_CGROUP_PREFIX = "agentbench-"


@functools.lru_cache(maxsize=1)
def pids_cgroup_base() -> Path | None:
    """Our own cgroup-v1 ``pids`` directory when we are root and may create children in it.

    Only cgroup v1: under v2 a child with controllers cannot be made below a cgroup that holds
    processes, and a cgroup elsewhere would escape limits set on ours. Children of our own v1
    pids cgroup stay under its limit (hierarchical) and change nothing else (memory, cpu).
    """
    if os.geteuid() != 0:
        return None
    try:
        own = next(line.split(":", 2)[2] for line in Path("/proc/self/cgroup").read_text().splitlines()
                   if "pids" in line.split(":", 2)[1].split(","))
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            fstype, _, options = (right.split() + ["", "", ""])[:3]
            root, mountpoint = left.split()[3:5]
            if fstype == "cgroup" and "pids" in options.split(","):
                base = Path(mountpoint) / os.path.relpath(own, root)
                break
        else:
            return None
        probe = base / f"{_CGROUP_PREFIX}probe-{os.getpid()}"
        probe.mkdir()
        usable = (probe / "pids.max").exists()
        probe.rmdir()
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    _sweep_stale(base)
    return base if usable else None


def _sweep_stale(base: Path) -> None:
    """Remove empty cgroups left by agentbench processes that died without cleaning up."""
    for path in base.glob(f"{_CGROUP_PREFIX}*-*"):
        pid = path.name[len(_CGROUP_PREFIX):].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            try:
                path.rmdir()
            except OSError:
                pass


class PidsCgroup:
    """One command's pids cgroup: bounds a fork bomb where RLIMIT_NPROC cannot (root)."""

    def __init__(self, base: Path, limit: int) -> None:
        self.path = base / f"{_CGROUP_PREFIX}{os.getpid()}-{next(_counter)}"
        self.path.mkdir()
        (self.path / "pids.max").write_text(str(limit))
        self._events_fd = -1  # pids.events, kept open: a pread costs a third of open + read + close

    def wrap(self, argv: list[str]) -> list[str]:
        # The command joins the cgroup before it execs, so no child can be forked outside it.
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs"), *argv]

    def limit_hit(self) -> bool:
        return self.events() > 0

    def events(self) -> int:
        """How many forks the limit has refused so far (``pids.events``' ``max``)."""
        try:
            if self._events_fd < 0:
                self._events_fd = os.open(self.path / "pids.events", os.O_RDONLY | os.O_CLOEXEC)
            text = os.pread(self._events_fd, 4096, 0).decode()
            return sum(int(line.split()[1]) for line in text.splitlines() if line.startswith("max "))
        except (OSError, ValueError, IndexError):
            return 0

    def close(self) -> None:
        """Kill whatever is left (a ``setsid`` child escapes a process-group kill) and remove it."""
        if self._events_fd >= 0:
            os.close(self._events_fd)  # an open file in it would keep the directory busy
            self._events_fd = -1
        deadline = time.monotonic() + 5
        pause = 0.0005
        while time.monotonic() < deadline:
            try:
                pids = (self.path / "cgroup.procs").read_text().split()
            except OSError:
                return
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                self.path.rmdir()
                return
            except OSError:
                # A process that has exited, even reaped, leaves its cgroup a moment later. A
                # fixed 20 ms wait cost each such command 20 ms (p90 of a jailed `true` 27 ms); a
                # doubling one costs about what it must (p90 8 ms).
                time.sleep(pause)
                pause = min(pause * 2, 0.02)


def open_pids_cgroup(limits: SandboxLimits, extra: int = 0) -> PidsCgroup | None:
    """A cgroup for the process limit when RLIMIT_NPROC cannot enforce it (we are root);
    ``extra`` processes of the harness's own (a persistent jail's) are allowed on top."""
    base = pids_cgroup_base() if limits.processes is not None else None
    if base is None:
        return None
    try:
        return PidsCgroup(base, limits.processes + extra)
    except OSError:
        return None


def process_limit_enforced(limits: SandboxLimits, jailed: bool) -> bool:
    """Whether ``limits.processes`` really bounds a command in this tier, as this user."""
    if limits.processes is None:
        return False
    if os.geteuid() == 0:
        return pids_cgroup_base() is not None
    return jailed and prlimit_path() is not None


def unenforced_limits(limits: SandboxLimits, jailed: bool, sized_tmpfs: bool) -> dict[str, str]:
    """Limits that are set but that nothing enforces in this tier, as this user, with why."""
    why: dict[str, str] = {}
    if prlimit_path() is None:
        why.update(dict.fromkeys(("memory", "file_size"), "no prlimit (util-linux) on PATH"))
    if limits.processes is not None and not process_limit_enforced(limits, jailed):
        why["processes"] = ("root is exempt from RLIMIT_NPROC and no cgroup-v1 pids controller is writable"
                            if os.geteuid() == 0 else "RLIMIT_NPROC counts all your processes outside a jail")
    if jailed and limits.tmp_size is not None and not sized_tmpfs:
        why["tmp_size"] = "this bwrap has no --size"
    return {name: text for name, text in why.items() if getattr(limits, name) is not None}


# --- after a command --------------------------------------------------------------------------


# inotify(7), through libc: the standard library has no binding.
_IN_MODIFY, _IN_ATTRIB, _IN_CLOSE_WRITE, _IN_CLOSE_NOWRITE, _IN_OPEN = 0x2, 0x4, 0x8, 0x10, 0x20
_IN_MOVED_FROM, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x40, 0x80, 0x100, 0x200
_IN_Q_OVERFLOW, _IN_IGNORED, _IN_ONLYDIR, _IN_DONT_FOLLOW = 0x4000, 0x8000, 0x1000000, 0x2000000
_CHANGED = _IN_MODIFY | _IN_ATTRIB | _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE
_WATCH = _CHANGED | _IN_OPEN | _IN_CLOSE_NOWRITE | _IN_ONLYDIR | _IN_DONT_FOLLOW
_EVENT = struct.Struct("iIII")


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        return libc
    except (OSError, AttributeError):
        return None


class TreeMeter:
    """The disk usage (allocated blocks) of some directory trees — what they hold, not the roots
    themselves; links not followed; a file with several names in them counted once — kept
    current from inotify events instead of a walk of every file after each command (25–50 ms at
    5,000 files, more than the command `true` itself).

    Every directory has a watch, added before it is listed, so nothing created in it later goes
    unseen; an event names a path, and only named paths (and their directories, whose own size
    may change) are looked at again. A file written through a memory mapping raises no event
    while it is written, but it is held open until the mapping goes, and its last close does
    raise one: until then, :meth:`usage` looks again at every file an event says is open. A
    full walk stands in whenever events cannot be trusted: the kernel's event queue overflowed
    (until the next ``settled`` call, when no process of a command runs), no inotify, or no
    watch left (``max_user_watches``)."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = [os.fspath(root) for root in roots]
        self.total = 0
        self._paths: dict[str, tuple[int, int]] = {}  # path → (device, inode)
        self._dirs: set[str] = set()  # the paths in _paths that are directories
        self._inodes: dict[tuple[int, int], list[int]] = {}  # → [bytes, names in the trees]
        self._wds: dict[int, str] = {}  # watch → the directory's path when last listed
        self._open: dict[str, int] = {}  # path → opens without a close yet
        self._blind = False  # events were lost: walk until no command runs
        libc = _libc()
        self._fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC) if libc is not None else -1
        self._finalizer = weakref.finalize(self, _close_fd, [self._fd])
        self._walk()

    @property
    def watching(self) -> bool:
        return self._fd >= 0

    def close(self) -> None:
        """Stop watching (a later :meth:`usage` then walks the trees)."""
        self._finalizer()
        self._fd = -1
        self._wds.clear()

    def usage(self, file_size: int | None = None, since: float = 0.0, *,
              settled: bool = False) -> tuple[int, list[tuple[Path, int]]]:
        """Bytes used now, and the files at or above ``file_size`` among those changed since the
        last call and modified at or after ``since`` (wall clock). ``settled``: no process of a
        command runs now, so every file held open has been closed."""
        dirty, lost = self._drain() if self._fd >= 0 else (set(), True)
        if lost or self._blind:
            big = self._walk(file_size, since)
            self._blind = (lost or self._blind) and self._fd >= 0 and not settled
            return self.total, big
        dirty.update(path for path, count in self._open.items() if count > 0)
        if settled:
            self._open.clear()
        big: list[tuple[Path, int]] = []
        for path in sorted(dirty):  # a directory before what is in it
            try:
                st = os.lstat(path)
            except OSError:
                self._forget(path)
                continue
            known = self._paths.get(path)
            if stat.S_ISDIR(st.st_mode) and known != (st.st_dev, st.st_ino) and path not in self.roots:
                self._forget(path)  # new here (created, moved in, replaced): list all of it
                self._count(path, st)
                big += self._scan([path], file_size, since)
                continue
            self._count(path, st)
            if (file_size is not None and stat.S_ISREG(st.st_mode) and st.st_size >= file_size
                    and st.st_mtime >= since):
                big.append((Path(path), st.st_size))
        return self.total, big

    # -- events --------------------------------------------------------------------------------

    def _drain(self) -> tuple[set[str], bool]:
        """The paths the queued events name (changed, or opened/closed), and whether the queue
        overflowed."""
        dirty: set[str] = set()
        lost = False
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return dirty, lost
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                name = data[offset + 16:offset + 16 + length].rstrip(b"\0")
                offset += 16 + length
                if mask & _IN_Q_OVERFLOW:
                    lost = True
                    continue
                base = self._wds.get(wd)
                if base is None:
                    continue
                if mask & _IN_IGNORED:  # the directory is gone, and its watch with it
                    del self._wds[wd]
                    continue
                path = f"{base}/{os.fsdecode(name)}" if name else base
                if mask & _IN_OPEN:
                    self._open[path] = self._open.get(path, 0) + 1
                if mask & (_IN_CLOSE_WRITE | _IN_CLOSE_NOWRITE) and self._open.get(path, 0) > 0:
                    self._open[path] -= 1
                if mask & _CHANGED:
                    dirty.add(path)
                    if name:
                        dirty.add(base)

    # -- the accounts --------------------------------------------------------------------------

    def _walk(self, file_size: int | None = None, since: float = 0.0) -> list[tuple[Path, int]]:
        self.total = 0
        self._paths.clear()
        self._dirs.clear()
        self._inodes.clear()
        self._open.clear()
        return self._scan(self.roots, file_size, since)

    def _scan(self, directories: list[str], file_size: int | None, since: float) -> list[tuple[Path, int]]:
        """Watch and count everything below ``directories``; the big files found on the way."""
        big: list[tuple[Path, int]] = []
        stack = list(directories)
        while stack:
            directory = stack.pop()
            if self._fd >= 0:
                self._watch(directory)  # before listing it: what is created after is an event
            try:
                entries = os.scandir(directory)
            except OSError:
                continue
            with entries:
                for entry in entries:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    self._count(entry.path, st)
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(entry.path)
                    elif (file_size is not None and stat.S_ISREG(st.st_mode) and st.st_size >= file_size
                          and st.st_mtime >= since):
                        big.append((Path(entry.path), st.st_size))
        return big

    def _watch(self, directory: str) -> None:
        libc = _libc()
        assert libc is not None
        wd = libc.inotify_add_watch(self._fd, os.fsencode(directory), _WATCH)
        if wd >= 0:
            self._wds[wd] = directory
        elif ctypes.get_errno() in (errno.ENOSPC, errno.ENOMEM):
            self.close()  # out of watches: walk from now on

    def _count(self, path: str, st: os.stat_result) -> None:
        if path in self.roots:
            return
        key, size = (st.st_dev, st.st_ino), st.st_blocks * 512
        if stat.S_ISDIR(st.st_mode):
            self._dirs.add(path)
        else:
            self._dirs.discard(path)
        if self._paths.get(path) != key:
            self._unlink(path)
            self._paths[path] = key
            inode = self._inodes.get(key)
            if inode is None:
                self._inodes[key] = [size, 1]
                self.total += size
                return
            inode[1] += 1
        inode = self._inodes[key]
        self.total += size - inode[0]
        inode[0] = size

    def _unlink(self, path: str) -> None:
        key = self._paths.pop(path, None)
        if key is None:
            return
        inode = self._inodes[key]
        inode[1] -= 1
        if inode[1] == 0:
            self.total -= inode[0]
            del self._inodes[key]

    def _forget(self, path: str) -> None:
        """``path`` and, when it was a directory, everything that was below it."""
        self._unlink(path)
        if path not in self._dirs:
            return
        self._dirs.discard(path)
        prefix = path + "/"
        for below in [p for p in self._paths if p.startswith(prefix)]:
            self._unlink(below)
            self._dirs.discard(below)


def _close_fd(holder: list[int]) -> None:
    if holder[0] < 0:
        return
    fd, holder[0] = holder[0], -1
    # Closing an inotify instance waits for the kernel to drop its watches (an RCU grace period:
    # up to ~20 ms, measured here), which an attempt need not wait for: a thread closes it.
    try:
        threading.Thread(target=os.close, args=(fd,), name="agentbench-inotify-close", daemon=True).start()
    except RuntimeError:  # interpreter shutdown: no new threads
        os.close(fd)


_MEMORY = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory", "OutOfMemoryError",
           "insufficient memory", "Not enough space")  # the last two: a JVM's ENOMEM
_SHELL_FORK = ("Cannot fork", "fork: retry", "can't fork")  # dash, bash, busybox: only ever EAGAIN
_PROCESSES = ("Resource temporarily unavailable",)  # EAGAIN from anything else: needs a failure too
_FILE_SIZE = ("File too large", "File size limit exceeded")
SIGXFSZ_EXIT = (128 + signal.SIGXFSZ, -signal.SIGXFSZ)  # via a shell or bwrap, or direct


def limit_notes(limits: SandboxLimits, exit_code: int | None, output: str, *, jailed: bool,
                big_files: list[tuple[Path, int]], roots: list[Path], pids_hit: bool) -> dict[str, str]:
    """Which limits a finished command ran into, each with the line the model is shown.

    The kernel only says ENOMEM/EAGAIN/EFBIG/ENOSPC to the program, so besides the definite
    signs (SIGXFSZ, a file at the size limit, the cgroup's pids.events) this reads the messages
    programs print for those errors — and only when the command failed.
    """
    failed = exit_code != 0
    notes: dict[str, str] = {}
    if limits.file_size is not None and (big_files or exit_code in SIGXFSZ_EXIT
                                         or (failed and any(s in output for s in _FILE_SIZE))):
        names = ", ".join(_shown(path, roots) for path, _ in big_files[:5])
        notes["file_size"] = f"[file size limit {format_bytes(limits.file_size)} exceeded{': ' + names if names else ''}]"
    if limits.memory is not None and failed and any(s in output for s in _MEMORY):
        notes["memory"] = (f"[memory limit {format_bytes(limits.memory)} per process: "
                           "an allocation was refused]")
    if limits.processes is not None and (pids_hit or any(s in output for s in _SHELL_FORK)
                                         or (failed and any(s in output for s in _PROCESSES))):
        notes["processes"] = f"[process limit {limits.processes} reached: a fork was refused]"
    if jailed and limits.tmp_size is not None and failed and "No space left on device" in output:
        notes["tmp_size"] = f"[/tmp and /dev/shm hold {format_bytes(limits.tmp_size)} each]"
    return notes


def _shown(path: Path, roots: list[Path]) -> str:
    for root in roots:
        if root == path or root in path.parents:
            return path.relative_to(root).as_posix()
    return path.name


def growth_note(limit: int, grown: int, stopped: bool) -> str:
    return (f"[worktree growth limit {format_bytes(limit)} exceeded: the worktree and home grew by "
            f"{format_bytes(max(grown, 0))} in this attempt{'; the command was stopped' if stopped else ''}"
            "; delete files to go on]")
