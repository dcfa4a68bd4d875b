"""Endpoint pools: one model served by several replicas, each with a number of slots (how many
attempts it serves at once), shared by every process of a run.

A slot is a lock file under a run-scoped directory, held with ``flock(2)`` for a whole attempt.
flock rather than a counter file: the kernel drops the lock when the holder dies, so a crashed or
killed xdist worker never strands a slot, and the workers of a run see each other's holds without
talking to each other (on one machine: the directory must be shared). An endpoint found dead gets
a marker file beside its locks, and every process skips it from then on.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from pytest_agentbench.errors import AgentbenchError


@dataclass(frozen=True)
class Endpoint:
    url: str
    slots: int = 1


class PoolExhausted(AgentbenchError):
    """Every endpoint of the pool is dead; the message names each with why."""


@dataclass
class Lease:
    """A held slot of one endpoint; :meth:`release` (idempotent) gives it back."""

    url: str
    slot: int
    waited: float  # seconds spent waiting for a free slot
    _fd: int | None = field(default=None, repr=False)

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the only descriptor drops the flock


def _key(url: str) -> str:
    """A file-name-safe, readable and unique name for an endpoint's files."""
    readable = re.sub(r"[^A-Za-z0-9]+", "_", url.split("://", 1)[-1]).strip("_")[:40]
    return f"{readable}-{hashlib.sha1(url.encode()).hexdigest()[:8]}"


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class EndpointPool:
    def __init__(self, directory: Path, endpoints: Sequence[Endpoint], *, poll: float = 0.05,
                 max_poll: float = 0.5) -> None:
        if not endpoints:
            raise ValueError("an endpoint pool needs at least one endpoint")
        self.directory = directory
        self.endpoints = list(endpoints)
        self.poll, self.max_poll = poll, max_poll
        self._turn = 0  # rotates the order ties are broken in: a serial run alternates endpoints
        directory.mkdir(parents=True, exist_ok=True)

    # -- dead endpoints ---------------------------------------------------------------------------

    def _marker(self, url: str) -> Path:
        return self.directory / f"{_key(url)}.dead"

    def mark_dead(self, url: str, reason: str) -> None:
        """Take ``url`` out of the pool for every process of the run; the first reason is kept."""
        try:
            fd = os.open(self._marker(url), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(reason)

    def dead(self) -> dict[str, str]:
        """Dead endpoints, each with why, in the pool's order."""
        found = {}
        for endpoint in self.endpoints:
            try:
                found[endpoint.url] = self._marker(endpoint.url).read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
        return found

    # -- slots ------------------------------------------------------------------------------------

    def _probe(self, endpoint: Endpoint) -> tuple[int, tuple[int, int] | None]:
        """How many slots of ``endpoint`` are free now, and the first free one (slot, fd), kept
        locked; the others are only tried (locked and at once unlocked)."""
        free, kept = 0, None
        for slot in range(endpoint.slots):
            fd = _try_lock(self.directory / f"{_key(endpoint.url)}.{slot}.lock")
            if fd is None:
                continue
            free += 1
            if kept is None:
                kept = (slot, fd)
            else:
                os.close(fd)
        return free, kept

    def try_acquire(self) -> Lease | None:
        """A free slot of the least-loaded live endpoint (the largest share of its slots free;
        ties in turn), or None when every slot is held. Raises :class:`PoolExhausted` when every
        endpoint is dead."""
        dead = self.dead()
        live = [e for e in self.endpoints if e.url not in dead]
        if not live:
            raise PoolExhausted("every endpoint is out of the pool: "
                                + "; ".join(f"{url}: {why}" for url, why in dead.items()))
        start = self._turn % len(live)
        self._turn += 1
        best: tuple[float, Endpoint, int, int] | None = None  # (share free, endpoint, slot, fd)
        try:
            for endpoint in live[start:] + live[:start]:
                free, kept = self._probe(endpoint)
                if kept is None:
                    continue
                if best is not None and free / endpoint.slots <= best[0]:
                    os.close(kept[1])  # an endpoint earlier in turn wins a tie
                    continue
                if best is not None:
                    os.close(best[3])
                best = (free / endpoint.slots, endpoint, *kept)
        except BaseException:
            if best is not None:
                os.close(best[3])
            raise
        if best is None:
            return None
        _, endpoint, slot, fd = best
        return Lease(endpoint.url, slot, 0.0, fd)

    def acquire(self, check: Callable[[str], str | None] | None = None,
                timeout: float | None = None) -> Lease:
        """A slot, waiting (polling, with backoff) while every slot is held. ``check(url)`` runs
        on each slot won and returns why the endpoint cannot serve (None: it can): such an
        endpoint is marked dead and another slot is sought. Raises :class:`PoolExhausted` when
        every endpoint is dead, :class:`TimeoutError` after ``timeout`` seconds (None: never)."""
        started = time.monotonic()
        pause = self.poll
        while True:
            lease = self.try_acquire()
            if lease is not None:
                problem = check(lease.url) if check is not None else None
                if problem is None:
                    lease.waited = round(time.monotonic() - started, 3)
                    return lease
                lease.release()
                self.mark_dead(lease.url, problem)
                continue
            if timeout is not None and time.monotonic() - started >= timeout:
                raise TimeoutError(f"no free slot in {timeout:g} s")
            time.sleep(pause)
            pause = min(pause * 1.5, self.max_poll)


def connect_problem(url: str, timeout: float = 3.0) -> str | None:
    """Whether something accepts TCP connections at ``url``'s host and port (None: yes), else
    why not. Cheap (one round trip) and enough to tell a stopped server or an unreachable machine
    from a live one; a server that accepts but misbehaves is the client's to report."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return None
    except OSError as exc:
        return f"cannot connect to {parts.hostname}:{port} ({exc.__class__.__name__}: {exc})"
