"""Attempts running at once on one managed llama-server evaluate their shared first prompt once.

Every repeat of a canary opens with the same request (system prompt, tools, task; only the seed
differs). Run one after the other, the repeats find that prompt in their slot's cache; run at once
in several slots, each slot evaluated it again, because llama-server shares no prompt prefix between
slots (measured with this build, with and without ``--kv-unified``: after a warm-up, two
concurrent requests with one 1,308-token prefix — one found it cached, the other took 8.0 s to
evaluate it again on one CPU thread).

llama-server's slot files close that gap: the first worker to reach a first prompt evaluates it
(one generated token) in its own slot and saves the slot; every other worker restores that file
into its slot (a few milliseconds) before sending the same prompt. Each worker sends every request
to its own slot (``id_slot``), where the restored prefix is. Anything that fails here — a server
without ``--slot-save-path``, a timeout — only costs the evaluation it would have saved: the
attempt's request goes out as before.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

# What decides the prompt the server evaluates: not the seed, the sampling or the output cap.
_PROMPT_FIELDS = ("model", "messages", "tools", "tool_choice")


def prompt_key(body: dict[str, Any]) -> str:
    """A file name for the prompt of ``body``."""
    prompt = {name: body.get(name) for name in _PROMPT_FIELDS}
    return hashlib.sha256(json.dumps(prompt, sort_keys=True).encode()).hexdigest()[:32]


def is_first_request(body: dict[str, Any]) -> bool:
    return not any(message.get("role") == "assistant" for message in body.get("messages", []))


def worker_slot(worker_id: str, slots: int) -> int:
    """The slot of an xdist worker (``gw3`` → 3, modulo the slots); the controller's is 0."""
    index = int(worker_id[2:]) if worker_id.startswith("gw") and worker_id[2:].isdigit() else 0
    return index % max(slots, 1)


class SharedPrefix:
    """One worker's use of a managed llama-server's slot files (see the module's docstring)."""

    def __init__(self, server_url: str, slot: int, directory: Path, http: httpx.Client) -> None:
        self.server_url = server_url.rstrip("/")  # the server's root: /slots and /v1/... below it
        self.slot = slot
        self.directory = directory  # the server's --slot-save-path
        self.http = http
        self.restored = 0  # prefixes restored into this worker's slot (first prompts not evaluated)

    def prepare(self, body: dict[str, Any], deadline: float) -> None:
        """Before a first request: make sure this worker's slot holds its prompt. Never raises."""
        if not is_first_request(body):
            return
        name = f"{prompt_key(body)}.bin"
        try:
            with self._locked(self.directory / f"{name}.lock", deadline) as held:
                if not held:
                    return
                if (self.directory / name).exists():
                    self._post(f"/slots/{self.slot}?action=restore", {"filename": name}, deadline)
                    self.restored += 1
                    return
                warm = {**body, "max_tokens": 1, "stream": False, "id_slot": self.slot}
                self._post("/v1/chat/completions", warm, deadline)
                self._post(f"/slots/{self.slot}?action=save", {"filename": name}, deadline)
        except (httpx.HTTPError, OSError, ValueError):
            return  # the request itself will evaluate the prompt, as without sharing

    def _post(self, path: str, body: dict[str, Any], deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise httpx.TimeoutException("the attempt's time is up")
        response = self.http.post(self.server_url + path, json=body, timeout=left)
        response.raise_for_status()

    @contextmanager
    def _locked(self, path: Path, deadline: float) -> Iterator[bool]:
        """Hold ``path``'s lock (True), or give up at ``deadline`` (False): while one worker
        evaluates a prompt, the others with the same prompt wait here for its file."""
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.05)
            yield True
        finally:
            os.close(fd)  # closing releases the lock
