"""Attempts running at once on one managed llama-server share their first prompt's evaluation
through the server's slot files (servers/shared_prefix.py): against a loopback server that speaks
llama-server's slot API and records what it is asked. The real llama-server's side is in
tests/test_embedded.py (the prompt evaluated once for two workers)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from pytest_agentbench.servers.shared_prefix import (
    SharedPrefix,
    is_first_request,
    prompt_key,
    worker_slot,
)

TOOLS = [{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}}]


def first(seed: int) -> dict:
    return {"model": "m", "seed": seed, "temperature": 0.7, "max_tokens": 512, "tools": TOOLS,
            "messages": [{"role": "system", "content": "You are an agent."},
                         {"role": "user", "content": "Fix the bug."}]}


class FakeSlotServer:
    """A loopback server with llama-server's /slots save and restore (writing the file as the real
    one does) and a chat endpoint; ``fail_save`` answers a save with HTTP 501, as llama-server
    started without --slot-save-path does."""

    def __init__(self, directory: Path, fail_save: bool = False, chat_seconds: float = 0.0) -> None:
        self.directory, self.fail_save, self.chat_seconds = directory, fail_save, chat_seconds
        self.calls: list[tuple[str, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.calls.append((self.path, body))
                status = 200
                if self.path.endswith("action=save"):
                    if fake.fail_save:
                        status = 501
                    else:
                        (fake.directory / body["filename"]).write_bytes(b"kv")
                elif self.path.endswith("action=restore") and not (fake.directory / body["filename"]).exists():
                    status = 400
                elif self.path == "/v1/chat/completions":
                    time.sleep(fake.chat_seconds)
                payload = json.dumps({"ok": status == 200}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake(tmp_path):
    server = FakeSlotServer(tmp_path)
    yield server
    server.close()


def sharing(fake: FakeSlotServer, slot: int) -> SharedPrefix:
    return SharedPrefix(fake.url, slot, fake.directory, httpx.Client())


def test_the_first_worker_evaluates_the_prompt_once_and_the_others_restore_it(fake):
    deadline = time.monotonic() + 30
    sharing(fake, 0).prepare(first(seed=0), deadline)
    name = f"{prompt_key(first(0))}.bin"
    warm, save = fake.calls
    assert warm[0] == "/v1/chat/completions"
    assert (warm[1]["max_tokens"], warm[1]["id_slot"], warm[1]["messages"]) == (1, 0, first(0)["messages"])
    assert save == ("/slots/0?action=save", {"filename": name})
    other = sharing(fake, 1)
    other.prepare(first(seed=1), deadline)  # another repeat: another seed, the same prompt
    assert fake.calls[2:] == [("/slots/1?action=restore", {"filename": name})]
    assert other.restored == 1


def test_only_a_first_request_is_prepared(fake):
    later = first(0)
    later["messages"] = [*later["messages"], {"role": "assistant", "content": "Looking."},
                         {"role": "user", "content": "Go on."}]
    assert not is_first_request(later) and is_first_request(first(0))
    sharing(fake, 0).prepare(later, time.monotonic() + 30)
    assert fake.calls == []


def test_another_prompt_is_another_file():
    other = first(0)
    other["messages"][1]["content"] = "Fix the other bug."
    assert prompt_key(first(0)) == prompt_key(first(5)) != prompt_key(other)
    assert prompt_key({**first(0), "tools": []}) != prompt_key(first(0))


def test_workers_with_the_same_prompt_wait_for_the_one_evaluating_it(fake):
    """Started together, one worker warms its slot (slowly) while the others wait for its file,
    then restore it: the prompt is evaluated once, not once per worker."""
    fake.chat_seconds = 0.5
    deadline = time.monotonic() + 30
    workers = [sharing(fake, slot) for slot in range(3)]
    threads = [threading.Thread(target=w.prepare, args=(first(seed=i), deadline)) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    paths = [path for path, _ in fake.calls]
    assert paths.count("/v1/chat/completions") == 1
    assert sorted(p for p in paths if "restore" in p) == sorted(
        f"/slots/{w.slot}?action=restore" for w in workers if w.restored)
    assert sum(w.restored for w in workers) == 2


def test_a_server_without_slot_files_costs_nothing_but_the_saving(tmp_path):
    """llama-server without --slot-save-path refuses the save: nothing raises, nothing is left
    to restore, and the next worker evaluates the prompt itself again (as without sharing)."""
    server = FakeSlotServer(tmp_path, fail_save=True)
    try:
        deadline = time.monotonic() + 30
        sharing(server, 0).prepare(first(0), deadline)
        sharing(server, 1).prepare(first(1), deadline)
        assert [path for path, _ in server.calls] == ["/v1/chat/completions", "/slots/0?action=save",
                                                      "/v1/chat/completions", "/slots/1?action=save"]
    finally:
        server.close()


def test_a_dead_server_or_a_spent_deadline_is_left_to_the_request(tmp_path):
    gone = SharedPrefix("http://127.0.0.1:9", 0, tmp_path, httpx.Client())
    gone.prepare(first(0), time.monotonic() + 5)  # connection refused: no exception
    gone.prepare(first(0), time.monotonic() - 1)  # no time left: nothing tried
    assert not list(tmp_path.glob("*.bin"))


@pytest.mark.parametrize(("worker", "slots", "slot"), [
    ("gw0", 2, 0), ("gw1", 2, 1), ("gw3", 2, 1), ("main", 4, 0), ("gwx", 2, 0), ("gw2", 0, 0)])
def test_each_xdist_worker_has_its_slot(worker, slots, slot):
    assert worker_slot(worker, slots) == slot
