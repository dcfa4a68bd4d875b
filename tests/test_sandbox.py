"""Command execution: process groups, timeouts and capped output."""

from __future__ import annotations

import time
from pathlib import Path

from pytest_agentbench.sandbox import command_env, run_command


def run(command: str, tmp_path: Path, timeout: float = 5, cap: int = 16_000):
    return run_command(command, tmp_path, timeout, command_env(tmp_path), output_cap=cap)


def test_exit_code_and_output(tmp_path):
    result = run("echo out; echo err >&2; exit 3", tmp_path)
    assert result.exit_code == 3 and not result.timed_out
    assert result.output == "out\nerr\n"


def test_endless_output_is_capped_and_killed(tmp_path):
    result = run("yes", tmp_path, timeout=1, cap=1000)
    assert result.timed_out and result.exit_code is None
    assert result.truncated_bytes > 0
    assert len(result.output) < 1200 and "bytes of output omitted" in result.output


def test_background_children_do_not_outlive_the_command(tmp_path):
    marker = tmp_path / "still-running"
    started = time.monotonic()
    result = run(f"(sleep 2; touch {marker}) & echo started", tmp_path, timeout=10)
    assert result.exit_code == 0 and time.monotonic() - started < 1.5
    time.sleep(2.5)
    assert not marker.exists()


def test_python_on_path_is_the_one_running_pytest(tmp_path):
    import sys

    result = run("python -c 'import sys; print(sys.executable)'", tmp_path)
    assert Path(result.output.strip()).resolve() == Path(sys.executable).resolve()
