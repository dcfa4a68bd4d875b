"""Live progress: what each running attempt is doing while it runs, and when the run will end.

An attempt on a heavy canary can run for many minutes between two of pytest's progress marks, and a
managed server can take a minute to start. So every process that runs attempts (the only process
under plain pytest; each xdist worker under ``-n``) keeps a small file in the run directory
(``progress/<worker>.json``), rewritten at each turn; the controller reads them once a second and
shows, on a terminal, one status line after pytest's own output (canary, model, repeat, turn n/N,
tokens, elapsed time, the run's ETA), cleared before pytest writes anything. When the output is not
a terminal it prints a plain line instead, every ``--agentbench-progress`` seconds (default 60)
while an attempt runs. Files, not xdist's channel: a worker has no way to talk to the controller
in the middle of a test, and the same mechanism then serves both modes.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_agentbench.attempt.identity import Attempt
    from pytest_agentbench.run.session import AgentbenchSession

PLAIN_EVERY = 60.0  # seconds between plain lines when the output is not a terminal
TICK = 1.0


def progress_mode(raw: str | None) -> tuple[str, float]:
    """``--agentbench-progress``: (``auto``|``off``|``plain``, seconds between plain lines)."""
    if raw in (None, "", "auto"):
        return "auto", PLAIN_EVERY
    if raw == "off":
        return "off", PLAIN_EVERY
    try:
        seconds = float(raw)
    except ValueError:
        raise pytest.UsageError(f"--agentbench-progress: {raw!r}: choose auto, off or a number of "
                                "seconds between plain progress lines") from None
    if not seconds > 0:
        raise pytest.UsageError("--agentbench-progress: the seconds must be above 0")
    return "plain", seconds


class ProgressWriter:
    """The attempt-running side: this process's current attempt, in a file the controller reads.
    Never raises: progress must not cost an attempt."""

    def __init__(self, directory: Path, worker: str) -> None:
        self.path = directory / f"{worker}.json"
        self.state: dict[str, Any] | None = None

    def begin(self, attempt: Attempt, turns: int | None, tokens: int | None) -> None:
        self.state = {"canary": attempt.canary, "model": attempt.model, "variant": attempt.variant,
                      "agent": attempt.agent, "repeat": attempt.repeat, "turn": 0, "turns": turns,
                      "tokens": 0, "max_tokens": tokens, "started": time.time(), "doing": None}
        self._write()

    def doing(self, what: str | None) -> None:
        """Something that is not a turn: ``starting llama-server``, ``verifying``."""
        if self.state is not None:
            self.state["doing"] = what
            self._write()

    def observe(self, event: dict[str, Any]) -> None:
        """A transcript event: each model turn moves the count."""
        if self.state is None or event.get("event") != "turn":
            return
        response = event.get("response") or {}
        self.state["turn"] = event.get("turn", self.state["turn"] + 1)
        self.state["tokens"] += sum(n for n in (response.get("prompt_tokens"), response.get("completion_tokens"))
                                    if isinstance(n, int))
        self.state["doing"] = None
        self._write()

    def end(self) -> None:
        self.state = None
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass

    def _write(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(self.state), encoding="utf-8")
            os.replace(temporary, self.path)  # the reader never sees half a file
        except OSError:
            pass


def read_running(directory: Path) -> list[dict[str, Any]]:
    running = []
    for path in sorted(directory.glob("*.json")):
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # removed, or being replaced, this very moment
        if isinstance(state, dict):
            running.append({**state, "worker": path.stem})
    return running


def _seconds(value: float) -> str:
    value = max(0, int(value))
    return f"{value // 60}m{value % 60:02d}s" if value >= 60 else f"{value}s"


def describe(state: dict[str, Any], now: float) -> str:
    name = state["model"] + (f"/{state['variant']}" if state.get("variant") not in (None, "base") else "")
    if state.get("agent") not in (None, "builtin"):
        name += f" via {state['agent']}"
    turns = f"turn {state['turn']}/{state['turns']}" if state.get("turns") else f"turn {state['turn']}"
    parts = [f"{state['canary']} · {name} · r{state['repeat']}", turns,
             f"{state['tokens']:,} tokens", _seconds(now - state["started"])]
    if state.get("doing"):
        parts.append(state["doing"])
    return " · ".join(parts)


def eta(done: int, total: int, first_start: float | None, now: float) -> str | None:
    """The run's expected end, from its pace so far (finished attempts per second)."""
    if not done or first_start is None or total <= done:
        return None
    pace = (now - first_start) / done
    return _seconds(pace * (total - done))


class ProgressTicker:
    """The controller's side: a thread that shows the running attempts once a second."""

    NAME = "agentbench-progress"

    def __init__(self, directory: Path, mode: str, every: float, counts: Callable[[], tuple[int, int]],
                 terminal: Callable[[], Any], out_fd: int | None) -> None:
        self.directory, self.mode, self.every, self.counts = directory, mode, every, counts
        # pytest's terminal reporter, looked up when drawing: the session may start before it exists
        self.terminal, self.out_fd = terminal, out_fd
        self.live = mode == "auto" and out_fd is not None and os.isatty(out_fd)
        self._lock = threading.Lock()
        self._shown = False  # a live status line is on the screen
        self._paused = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first_start: float | None = None
        self._last_plain = time.monotonic()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self.mode == "off" or (self.mode == "auto" and not self.live and self.out_fd is None):
            return
        self._thread = threading.Thread(target=self._run, name="agentbench-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.clear()

    # -- pytest writes: the status line gives way ----------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logstart(self, nodeid: str, location: Any):
        with self.paused():
            return (yield)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport):
        with self.paused():
            return (yield)

    def pytest_sessionfinish(self) -> None:
        self.stop()

    def paused(self) -> _Paused:
        return _Paused(self)

    # -- drawing -------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            try:
                self.tick(time.time())
            except Exception:  # noqa: BLE001, S110 - progress must never break a run
                pass

    def tick(self, now: float) -> str | None:
        running = read_running(self.directory)
        if running:
            started = min(state["started"] for state in running)
            self._first_start = started if self._first_start is None else min(self._first_start, started)
        done, total = self.counts()
        left = eta(done, total, self._first_start, now)
        run = f"{done}/{total} done" + (f", ETA {left}" if left else "") if total else ""
        if not running:
            self.clear()
            return None
        if self.live:
            text = " | ".join(describe(state, now) for state in running) + (f" | {run}" if run else "")
            self._draw(text)
            return text
        if time.monotonic() - self._last_plain >= self.every:
            self._last_plain = time.monotonic()
            lines = [f"agentbench: running {describe(state, now)}" for state in running]
            if run:
                lines.append(f"agentbench: {run}")
            self._plain(lines)
            return "\n".join(lines)
        return None

    def _draw(self, text: str) -> None:
        with self._lock:
            if self._paused or self.out_fd is None:
                return
            current = self._current_line()
            width = max(20, self._width() - len(current) - 4)
            status = text if len(text) <= width else text[:width - 1] + "…"
            self._raw(f"\r{current}  {status}\x1b[K")
            self._shown = True

    def clear(self) -> None:
        with self._lock:
            if self._shown and self.out_fd is not None:
                self._raw(f"\r{self._current_line()}\x1b[K")
            self._shown = False

    def _plain(self, lines: list[str]) -> None:
        with self._lock:
            if self._paused:
                return
            text = "\n".join(lines) + "\n"
            if self._current_line():
                text = "\n" + text  # never glued to pytest's dots
            if self.out_fd is not None:
                self._raw(text)
            else:
                sys.stderr.write(text)

    def _raw(self, text: str) -> None:
        # Past pytest's output capture: a test may be running in this very process.
        try:
            os.write(self.out_fd, text.encode("utf-8", errors="replace"))  # type: ignore[arg-type]
        except OSError:
            pass

    def _current_line(self) -> str:
        writer = getattr(self.terminal(), "_tw", None)
        line = getattr(writer, "_current_line", "")
        return line if isinstance(line, str) else ""

    def _width(self) -> int:
        writer = getattr(self.terminal(), "_tw", None)
        return int(getattr(writer, "fullwidth", 80) or 80)


class _Paused:
    def __init__(self, ticker: ProgressTicker) -> None:
        self.ticker = ticker

    def __enter__(self) -> None:
        self.ticker.clear()
        with self.ticker._lock:
            self.ticker._paused += 1

    def __exit__(self, *exc: object) -> None:
        with self.ticker._lock:
            self.ticker._paused -= 1


def terminal_fd(config: pytest.Config) -> int | None:
    """The file descriptor of the terminal pytest writes to, also while a test runs in this
    process (fd capture then points fd 1 at a file and keeps the original as a saved copy)."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    saved = getattr(getattr(getattr(capture, "_global_capturing", None), "out", None), "targetfd_save", None)
    if isinstance(saved, int):
        return saved
    try:
        return sys.__stdout__.fileno() if sys.__stdout__ is not None else None
    except (OSError, ValueError):
        return None


def start_ticker(config: pytest.Config, session: AgentbenchSession, mode: str, every: float,
                 counts: Callable[[], tuple[int, int]]) -> ProgressTicker | None:
    if mode == "off":
        return None
    ticker = ProgressTicker(session.run_dir / "progress", mode, every, counts,
                            lambda: config.pluginmanager.get_plugin("terminalreporter"), terminal_fd(config))
    config.pluginmanager.register(ticker, ProgressTicker.NAME)
    ticker.start()
    return ticker
