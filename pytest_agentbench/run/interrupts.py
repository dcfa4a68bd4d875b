"""SIGTERM (a CI cancel, ``kill``, a container stop) ends a benchmark like Ctrl-C does: the
running attempt's sandbox and worktree go, every finished attempt stays in the database and the
JSON report (``interrupted: true``), and pytest exits 2. Other test runs keep the default SIGTERM
behaviour."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from pytest_agentbench.run.collect import is_attempt


def _terminate_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"agentbench: signal {signum}")


@contextmanager
def sigterm_as_interrupt(session: pytest.Session) -> Iterator[None]:
    """Around the test loop of a run that benchmarks (or of an xdist controller, which cannot
    know yet what its workers will collect): SIGTERM raises KeyboardInterrupt."""
    benchmarking = any(is_attempt(item) for item in session.items)
    controller = session.config.pluginmanager.hasplugin("dsession")  # xdist's controller
    if not (benchmarking or controller) or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Around a cleanup that must finish once begun (removing worktrees): a further Ctrl-C or
    SIGTERM waits until it is done, then interrupts as usual. Main thread only (signals are
    delivered there); elsewhere it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        held.append(signum)

    previous = {signum: signal.signal(signum, hold) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if held:  # delivered again, now to whatever handles it (one is enough)
            signal.raise_signal(held[0])
