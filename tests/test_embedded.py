"""The real embedded model (SmolLM2-135M on a managed llama-server), end to end.

Skipped unless the embedded extra is installed (`.ci/run` installs it, so CI runs these). The
model is tiny and mostly fails; these tests check that its attempts are *classified* — never
an infra_error on a healthy server — and that a server killed mid-run is an infra_error.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from pytest_agentbench.servers.llama_server import find_embedded_gguf, find_llama_server
from pytest_agentbench.servers.managed import ServerStartError

try:
    find_llama_server()
    find_embedded_gguf()
except ServerStartError as exc:  # pragma: no cover - depends on the install
    pytest.skip(f"embedded model not installed: {exc}", allow_module_level=True)

CANARIES = Path(__file__).parent.parent / "canaries"
TAXONOMY = {"passed", "failed", "phantom", "budget_turns", "budget_tokens", "budget_time",
            "malformed", "tool_confusion"}


@pytest.fixture(autouse=True)
def one_model_server_at_a_time():
    """Under -n 2 two workers would each start a llama-server on the same 2 cores, and every
    token would cost twice as long: these tests take turns instead."""
    with open(Path(tempfile.gettempdir()) / "agentbench-embedded-tests.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def copy_canary(pytester: pytest.Pytester, name: str) -> None:
    source = next(CANARIES.glob(f"*/{name}"))
    shutil.copytree(source, pytester.path / "canaries" / name)


def test_real_attempts_are_classified_and_the_server_is_recorded(pytester):
    """Under -n 2 too: both workers share one managed llama-server with a slot each, so their
    attempts decode together, each with the whole context window."""
    copy_canary(pytester, "add-slugify")
    result = pytester.runpytest_subprocess(
        "canaries", "--models", "embedded", "--repeats", "2", "--agentbench-json", "r.json", "-n", "2",
        "--agentbench-max-turns", "2", "--agentbench-max-output-tokens", "64", timeout=600)
    report = json.loads((pytester.path / "r.json").read_text())
    server = report["models"]["embedded"]["server"]
    assert server["kind"] == "llama.cpp"
    assert server["slots"] == 2  # llama-server's own /props: one slot per worker
    assert server["context_window"] == 8192  # per slot
    result.stdout.fnmatch_lines(["*embedded: managed server*2 slots of context 8192, one per xdist worker)"])
    log = (pytester.path / ".agentbench" / "servers" / "embedded.log").read_text()
    assert log.count("--- starting") == 1  # one server for both workers
    outcomes = [a["outcome"] for a in report["attempts"]]
    assert len(outcomes) == 2 and set(outcomes) <= TAXONOMY, outcomes
    # the model really answered: tokens came back, timed by the server
    talked = [a for a in report["attempts"] if a["turns"] >= 1 and a["completion_tokens"] > 0]
    assert talked, report["attempts"]
    assert all(a["tokens_per_second"] and a["tokens_per_second"] > 0 for a in talked)
    out = result.stdout.str()
    assert "agentbench summary" in out
    # Repeats at temperature 0: their own seeds, and either they differed or the
    # summary says they were one sample.
    assert sorted(a["seed"] for a in report["attempts"]) == [0, 1]
    assert all(a["conversation_digest"] for a in talked)
    assert "WARNING: temperature 0 (embedded)" in out
    [row] = report["summary"]
    scored = [a for a in report["attempts"] if a["outcome"] != "infra_error"]
    assert row["distinct_repeats"] == len({(a["conversation_digest"], a["outcome"]) for a in scored})
    if row["distinct_repeats"] < row["n"]:
        assert "IDENTICAL REPEATS embedded: 2 repeats identical in 1/1 canaries" in out
    # the managed server is gone after the session
    assert not list((pytester.path / ".agentbench" / "servers").glob("*.json"))


def test_killing_the_server_mid_run_is_an_infra_error(pytester):
    copy_canary(pytester, "add-slugify")
    # Inside the benchmarked session: kill the managed llama-server about a second after the
    # first attempt's agent loop has sent its first request (its transcript says when).
    pytester.makeconftest(
        """
import json, os, signal, threading, time
from pathlib import Path

def pytest_runtest_setup(item):
    if not item.name.endswith("-r0]"):
        return
    def kill():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            started = [p for p in Path(".agentbench/runs").glob("*/transcripts/*-r0.jsonl")
                       if '"event": "start"' in p.read_text()]
            if started:
                break
            time.sleep(0.05)
        time.sleep(1.0)
        for state in Path(".agentbench/servers").glob("*.json"):
            os.kill(json.loads(state.read_text())["pid"], signal.SIGKILL)
    threading.Thread(target=kill, daemon=True).start()
"""
    )
    started = time.monotonic()
    result = pytester.runpytest_subprocess(
        "canaries", "--models", "embedded", "--repeats", "2", "--agentbench-json", "r.json",
        "--agentbench-max-turns", "2", "--agentbench-retries", "1", "--agentbench-retry-backoff", "0.1",
        # 256 tokens: the first request must still be running a second after it was sent, on a
        # faster CPU too (this model often ends an attempt with its first, capped reply).
        "--agentbench-max-output-tokens", "256", timeout=600)
    report = json.loads((pytester.path / "r.json").read_text())
    first, second = sorted(report["attempts"], key=lambda a: a["repeat"])
    assert first["outcome"] == "infra_error", first["detail"]
    assert "has exited" in first["detail"]
    # the plugin restarts its server: the next attempt runs and is classified
    assert second["outcome"] in TAXONOMY, second["detail"]
    assert time.monotonic() - started < 500
    result.stdout.fnmatch_lines(["*1 error*"])
