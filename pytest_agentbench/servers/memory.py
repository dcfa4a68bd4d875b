"""How much memory a model server holds (the docs' "Models that share a machine").

Lesson: a model that passed loaded one at a time failed where two had to co-reside
(81 GB + 29 GB on a 96 GB machine swapped and locked up). So a managed server's memory is read
from the kernel — ``/proc/PID/status``: ``VmHWM`` (peak resident set, the kernel keeps the max
for the process's life, so one reading at the end is the peak, no polling) and ``VmRSS`` — summed
over the server and its descendants (a wrapper script's child does the work); GPU memory from
``nvidia-smi`` where it exists (current use: nvidia-smi keeps no peak). No psutil: three /proc
reads do it.

Where there is no ``/proc`` (macOS, the BSDs) nothing is measured: :func:`unmeasurable` says why,
the co-residence preflight says so in the session header and checks the models' declared
``memory`` (the registry) alone, and the machine's RAM is read from ``sysconf`` instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)
MARGIN_FRACTION = 0.10  # the default budget leaves the system this share of RAM...
MARGIN_MIN = 4 << 30  # ...and at least 4 GiB
PROC = Path("/proc")  # where a server's memory is read from (read at each call)


def parse_size(text: str | float, where: str = "") -> int:
    """``"90G"``, ``"512M"``, ``"1.5T"``, ``"81GB"`` or a number of bytes → bytes (binary
    units: G = GiB). ``where`` names the option or field in the error."""
    where = f"{where}: " if where else ""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text <= 0:
            raise ValueError(f"{where}{text!r}: must be more than 0")
        return int(text)
    match = _SIZE.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{where}{text!r}: not a size (e.g. 90G, 512M, 1.5T; K/M/G/T are "
                         "binary units)")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def human(size: int | None) -> str:
    if size is None:
        return "?"
    for unit in ("T", "G", "M", "K"):
        if size >= _UNITS[unit]:
            return f"{size / _UNITS[unit]:.1f} {unit}iB"
    return f"{size} B"


def machine_ram(meminfo: Path | None = None) -> int | None:
    """The machine's RAM: ``MemTotal`` of /proc/meminfo, else physical pages × page size
    (``sysconf``: macOS, the BSDs); None when neither can be read."""
    try:
        text = (meminfo or PROC / "meminfo").read_text()
        match = re.search(r"^MemTotal:\s+(\d+) kB", text, re.MULTILINE)
        if match:
            return int(match.group(1)) * 1024
    except OSError:
        pass
    if meminfo is not None:
        return None
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def unmeasurable() -> str:
    """Why a server's memory cannot be measured on this machine ('' when it can): its peak and
    current resident set are read from ``/proc/PID/status``, which macOS and the BSDs lack."""
    try:
        text = (PROC / "self" / "status").read_text()
    except OSError:
        return f"no {PROC} on this machine (macOS, a BSD): a server's memory is read from {PROC}/PID/status"
    if "VmHWM:" not in text:
        return f"{PROC}/PID/status has no VmHWM (peak resident set) here"
    return ""


def default_budget() -> int | None:
    """The machine's RAM minus a margin for the system and the harness itself."""
    ram = machine_ram()
    return None if ram is None else ram - max(MARGIN_MIN, int(ram * MARGIN_FRACTION))


def _status(pid: int) -> dict[str, int]:
    """``VmHWM``/``VmRSS`` of one process in bytes ({} when it is gone or not readable)."""
    found = {}
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                found[key] = int(value.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return {}
    return found


def descendants(pid: int) -> list[int]:
    """``pid`` and every process under it (through /proc/PID/task/*/children)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        if current in found:
            continue
        found.append(current)
        for children in (PROC / str(current) / "task").glob("*/children"):
            try:
                queue += [int(child) for child in children.read_text().split()]
            except (OSError, ValueError):
                continue
    return found


def gpu_memory(pids: list[int]) -> int | None:
    """GPU memory the processes use now (bytes), from nvidia-smi; None without nvidia-smi."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return None
    try:
        out = subprocess.run([tool, "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    total = 0
    for line in out.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit() and int(parts[0]) in pids and parts[1].isdigit():
            total += int(parts[1]) << 20  # MiB
    return total


@dataclass
class MemoryReading:
    peak_rss: int  # sum of VmHWM over the server's processes
    rss: int  # sum of VmRSS now
    gpu: int | None  # None: no nvidia-smi
    processes: int

    def to_json(self) -> dict[str, int | None]:
        return {"peak_rss_bytes": self.peak_rss, "rss_bytes": self.rss, "gpu_bytes": self.gpu,
                "processes": self.processes}

    @property
    def total_now(self) -> int:
        return self.rss + (self.gpu or 0)


def read_memory(pid: int) -> MemoryReading | None:
    """The server's memory now; None when the process is gone."""
    pids = descendants(pid)
    statuses = [s for s in map(_status, pids) if s]
    if not statuses:
        return None
    return MemoryReading(peak_rss=sum(s.get("VmHWM", 0) for s in statuses),
                         rss=sum(s.get("VmRSS", 0) for s in statuses),
                         gpu=gpu_memory(pids), processes=len(statuses))
