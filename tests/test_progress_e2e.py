"""Live progress while attempts run: a status line on a terminal (drawn after pytest's own output
and cleared before pytest writes), plain lines when the output is not a terminal, under -n 2 too.
A slow scripted model keeps an attempt running long enough to be shown."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest

from pytest_agentbench.run.progress import (
    ProgressWriter,
    describe,
    eta,
    progress_mode,
    read_running,
)
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE

SLOW = [{**call("read_file", path="README.md"), "delay": 0.7},
        {**call("write_file", path="hello.py", content=HELLO_SOURCE), "delay": 0.7},
        {**say("Done."), "delay": 0.7}]


@pytest.mark.parametrize("workers", [None, "2"])
def test_plain_progress_lines_when_the_output_is_not_a_terminal(bench, workers):
    bench.canary()
    with ScriptedServer(SLOW) as server:
        result = bench.run(server, "--agentbench-progress", "0.3", *(["-n", workers] if workers else []),
                           repeats=2, subprocess=True)
    out = result.stdout.str()
    assert result.ret == 0, out
    running = [line for line in out.splitlines() if line.startswith("agentbench: running hello · m · r")]
    assert running, out
    assert any(" · turn 1/15 · " in line or " · turn 2/15 · " in line for line in running), running
    assert all(" tokens · " in line for line in running)
    # the run's own count: attempts done of those collected
    assert any(line.startswith("agentbench: ") and "/2 done" in line for line in out.splitlines())
    assert "\x1b[K" not in out  # no terminal codes where there is no terminal


def test_progress_off_prints_nothing_extra(bench):
    bench.canary()
    with ScriptedServer(SLOW) as server:
        result = bench.run(server, "--agentbench-progress", "off", subprocess=True)
    assert "agentbench: running" not in result.stdout.str()


def test_a_live_status_line_on_a_terminal_gives_way_to_pytest(bench):
    """On a pseudo-terminal: the status line appears after pytest's output and is erased
    (carriage return, erase-to-end) before pytest writes its result."""
    bench.canary()
    with ScriptedServer(SLOW) as server:
        argv = [sys.executable, "-m", "pytest", "canaries", "--models", f"m@{server.url}", "--repeats", "1",
                "-p", "no:cacheprovider", "-v"]
        primary, secondary = pty.openpty()
        process = subprocess.Popen(argv, cwd=bench.pytester.path, stdin=subprocess.DEVNULL,
                                   stdout=secondary, stderr=secondary, close_fds=True,
                                   env={**os.environ, "COLUMNS": "200", "TERM": "xterm"})
        os.close(secondary)
        output = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
        process.wait(timeout=30)
        os.close(primary)
    text = output.decode("utf-8", "replace")
    assert process.returncode == 0, text
    assert "hello · m · r0 · turn " in text, text
    status = text.index("hello · m · r0 · turn ")
    passed = text.index("PASSED", status)
    # erased before pytest wrote PASSED, pytest's own line put back as it was
    assert "\rcanaries/hello/canary.toml::hello[m-r0] \x1b[K" in text[status:passed], text[status:passed]
    assert "0/1 done" in text or "1/1 done" in text


def test_the_writer_and_reader_agree(tmp_path):
    from pytest_agentbench.attempt.identity import Attempt

    writer = ProgressWriter(tmp_path, "gw1")
    writer.begin(Attempt("n", "c", "m", variant="temperature=0.7", agent="mini", repeat=2), 15, 40000)
    writer.observe({"event": "turn", "turn": 1, "response": {"prompt_tokens": 100, "completion_tokens": 20}})
    writer.observe({"event": "tool"})  # not a turn: nothing moves
    [state] = read_running(tmp_path)
    assert (state["worker"], state["turn"], state["tokens"]) == ("gw1", 1, 120)
    line = describe(state, state["started"] + 75)
    assert line == "c · m/temperature=0.7 via mini · r2 · turn 1/15 · 120 tokens · 1m15s"
    writer.end()
    assert read_running(tmp_path) == []
    assert eta(done=2, total=6, first_start=0.0, now=60.0) == "2m00s"  # 30 s an attempt, 4 left
    assert eta(done=0, total=6, first_start=0.0, now=60.0) is None


@pytest.mark.parametrize(("raw", "expected"), [(None, ("auto", 60.0)), ("off", ("off", 60.0)),
                                               ("5", ("plain", 5.0))])
def test_progress_modes(raw, expected):
    assert progress_mode(raw) == expected


@pytest.mark.parametrize("raw", ["sometimes", "0", "-1"])
def test_a_bad_progress_value_is_a_usage_error(raw):
    with pytest.raises(pytest.UsageError, match="--agentbench-progress"):
        progress_mode(raw)
