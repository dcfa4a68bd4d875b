"""The real embedded model (SmolLM2-135M on a managed llama-server), end to end.

Skipped unless the embedded extra is installed (`.ci/run` installs it, so CI runs these). The
model is tiny and mostly fails; these tests check that its attempts are *classified* — never
an infra_error on a healthy server — and that a server killed mid-run is an infra_error.
"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from pytest_agentbench.schemas.models import embedded_model
from pytest_agentbench.servers.llama_server import (
    find_embedded_gguf,
    find_llama_server,
    server_command,
)
from pytest_agentbench.servers.managed import ServerPool, ServerStartError, free_port

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
    """Two workers would each start a llama-server on the same 2 cores, and every token would
    cost twice as long. Under the suite's default distribution one worker runs all of these
    (tests/conftest.py's scheduler); under another (``--dist load``) they take turns on a lock."""
    with open(Path(tempfile.gettempdir()) / "agentbench-embedded-tests.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def copy_canary(pytester: pytest.Pytester, name: str) -> None:
    source = next(CANARIES.glob(f"*/{name}"))
    shutil.copytree(source, pytester.path / "canaries" / name)


def test_real_attempts_are_classified_and_the_server_is_recorded(pytester):
    """Under -n 2 too: both workers share one managed llama-server with a slot each, so their
    attempts decode together, each with the whole context window."""
    copy_canary(pytester, "read-the-function")
    result = pytester.runpytest_subprocess(
        "canaries", "--models", "embedded", "--repeats", "2", "--agentbench-json", "r.json", "-n", "2",
        "--agentbench-max-turns", "2", "--agentbench-max-output-tokens", "32", timeout=600)
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
    # Both attempts open with the same prompt; it is evaluated once: the first worker to get
    # there warms its slot and saves it, the other restores that into its own slot. Each first
    # turn then finds the prompt cached (without this, one of them evaluated all ~1,000 tokens).
    first_turns = []
    for transcript in (pytester.path / ".agentbench" / "runs").glob("*/transcripts/*.jsonl"):
        turns = [json.loads(line) for line in transcript.read_text().splitlines()]
        first_turns += [t["response"] for t in turns if t.get("event") == "turn" and t["turn"] == 1]
    assert len(first_turns) == 2, first_turns
    assert all(t["timings"]["cache_n"] >= t["prompt_tokens"] - 8 for t in first_turns), first_turns
    evaluated = [int(n) for n in re.findall(r"prompt eval time = +[\d.]+ ms / +(\d+) tokens", log)]
    assert sum(1 for n in evaluated if n >= 500) == 1, evaluated
    # the managed server is gone after the session, and so are its saved slots
    assert not list((pytester.path / ".agentbench" / "servers").glob("*.json"))
    assert not list((pytester.path / ".agentbench" / "servers").glob("slots-*"))


def test_killing_the_server_mid_run_is_an_infra_error(pytester):
    copy_canary(pytester, "read-the-function")
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


def test_interleaved_conversations_keep_their_prefix_cache(tmp_path):
    """Under -n 2 two attempts take turns on one managed server (2 slots). Each conversation's next
    turn must find its prefix still cached — in its slot, or in llama-server's host-memory prompt
    cache — (llama.cpp reports it as ``timings.cache_n``, which the loop adds up per attempt), not
    recomputed because the other conversation came in between. (With ``cache_prompt`` off this
    fails: cache_n 0 of 745 prompt tokens.)"""
    spec = embedded_model().server
    port = free_port()
    pool = ServerPool(tmp_path, "prefix-cache")
    state = pool.ensure("embedded", server_command(spec, port, alias="embedded", slots=2), port,
                        "/health", 120)

    def ask(http: httpx.Client, messages: list[dict]) -> dict:
        return http.post(state.base_url + "/chat/completions", json={
            "model": "embedded", "messages": messages, "max_tokens": 8, "temperature": 0}).json()

    def opening(topic: str) -> list[dict]:
        # Two system prompts that differ from their first word: nothing of one is a prefix of the other.
        facts = " ".join(f"{topic} fact {n}: the value of item {n} is {n * 7}." for n in range(40))
        return [{"role": "system", "content": f"{topic.title()} notes. {facts}"},
                {"role": "user", "content": f"Name one {topic} fact."}]

    try:
        with httpx.Client(timeout=120) as http:
            first = {topic: opening(topic) for topic in ("river", "mountain")}
            replies = {topic: ask(http, messages) for topic, messages in first.items()}  # river, then mountain
            for answer in replies.values():
                assert answer["timings"]["prompt_n"] > 300, answer["timings"]  # a real prompt, computed
            for topic, messages in first.items():  # river again, after mountain came in between
                second = [*messages, {"role": "assistant", "content": replies[topic]["choices"][0]["message"]["content"]},
                          {"role": "user", "content": "And another one?"}]
                timings = ask(http, second)["timings"]
                assert timings["cache_n"] >= replies[topic]["timings"]["prompt_n"] - 8, (topic, timings)
                assert timings["prompt_n"] < 64, (topic, timings)  # only the new turn was computed
    finally:
        pool.stop_all()
