"""What preflight learns about a server (``ServerInfo``) and the never-raising HTTP helper the
per-kind probes share."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

OLLAMA_SMALL_CONTEXT = 4096  # Ollama's default below 24 GiB VRAM (docs/context-length.mdx)
Entries = list[dict[str, Any]]


@dataclass
class ServerInfo:
    kind: str  # ollama|llama.cpp|llama-cpp-python|lmstudio|vllm|mlx|openai-compatible|unreachable
    version: str | None = None
    model: str | None = None
    context_window: int | None = None  # what the server uses per request, not the trained max
    chat_template: str | None = None  # template family / caps hint, <= 200 chars
    tool_support: bool | None = None
    problems: list[str] = field(default_factory=list)  # fatal, each with its fix
    warnings: list[str] = field(default_factory=list)
    context_source: str | None = None  # the endpoint and field context_window was read from
    base_url: str | None = None  # the endpoint this describes (a pool has several)
    slots: int | None = None  # requests the server runs at once, when it says (llama.cpp -np)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # every field is JSON-safe already

    # The capability check and the tool probe may find the same fault: record it once.
    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)


class Http:
    """GETs and POSTs that never raise: None on a transport failure, else (status, JSON or text).
    GETs are cached because detection and the per-server parsers read the same endpoints."""

    def __init__(self, http: httpx.Client, base_url: str, timeout: float) -> None:
        self.http, self.timeout = http, timeout
        self.base = base_url.rstrip("/")
        self.root = re.sub(r"/v1$", "", self.base)  # native endpoints live beside /v1
        self.cache: dict[str, tuple[int, Any] | None] = {}

    def get(self, path: str) -> tuple[int, Any] | None:
        if path not in self.cache:
            try:
                self.cache[path] = decode(self.http.get(self.root + path, timeout=self.timeout))
            except httpx.HTTPError:
                self.cache[path] = None
        return self.cache[path]

    def json(self, path: str) -> Any:
        """The body of a 200 JSON answer, else None."""
        got = self.get(path)
        return got[1] if got and got[0] == 200 and not isinstance(got[1], str) else None

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any] | None:
        try:
            return decode(self.http.post(self.root + path, json=body, timeout=self.timeout))
        except httpx.HTTPError:
            return None


def decode(response: httpx.Response) -> tuple[int, Any]:
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text
