"""The recording proxy (issue 18): an OpenAI-compatible endpoint between an external agent and the
model server. It forwards every request, and from the traffic itself records what the built-in
loop records (turns, tokens, finish reasons, tool calls and malformed ones, tool-call confusion)
into a :class:`~pytest_agentbench.agent.loop.LoopResult` and the attempt's transcript; it enforces
the turn and token budgets (past them the agent gets an error reply and the harness is told to
stop it); a model server it cannot reach is an infrastructure fault, never the model's.

It listens on a Unix socket (bound into the agent's jail, where ``forwarder.py`` serves it on the
jail's own loopback) or on a loopback TCP port (the ``none`` tier, and tests). Streaming requests
are relayed chunk by chunk and reassembled for the record.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from pytest_agentbench.agent.fingerprint import ConversationDigest
from pytest_agentbench.agent.loop import LoopResult, Transcript, reply_excerpt
from pytest_agentbench.agent.parse import find_tool_confusion, prepare_calls
from pytest_agentbench.canary import ResolvedBudget
from pytest_agentbench.client import InfraError, parse_chat_response
from pytest_agentbench.external.sse import reassemble_stream

MAX_BODY = 64 << 20  # a request body larger than this is refused (the agent's bug, not ours)


class ProxyRecord:
    """What the proxy saw, as the loop's own record; ``stop`` is set when the harness must end the
    agent (a budget it ran through, or a dead model server)."""

    def __init__(self, budget: ResolvedBudget) -> None:
        self.budget = budget
        self.result = LoopResult(stop_reason="final")
        self.stop = threading.Event()
        self.upstream_errors = 0
        self.lock = threading.Lock()
        self.digest = ConversationDigest()

    def halt(self, reason: str, detail: str, limit: str | None = None, kind: str | None = None) -> None:
        """The first reason to stop wins; ``kind`` is the infra_kind of an infra_error."""
        with self.lock:
            if not self.stop.is_set():
                self.result.stop_reason, self.result.detail, self.result.limit_hit = reason, detail, limit
                if kind is not None:
                    self.result.infra_kind = kind
                self.stop.set()

    def budget_problem(self) -> str | None:
        """Why no further request may go to the model, or None."""
        result = self.result
        if self.stop.is_set():
            return result.detail
        if result.turns >= self.budget.turns:
            self.halt("budget_turns", f"turn budget of {self.budget.turns} exhausted", "turn_budget")
        elif result.total_tokens >= self.budget.tokens:
            self.halt("budget_tokens", f"token budget of {self.budget.tokens} exhausted "
                      f"({result.total_tokens} used)", "token_budget")
        return result.detail if self.stop.is_set() else None

    def account(self, request: dict[str, Any], body: Any, seconds: float) -> dict[str, Any]:
        """Add one model reply to the record; returns its transcript entry."""
        response = parse_chat_response(body, seconds)
        tools = request.get("tools") or []
        schemas = {t["function"]["name"]: t["function"].get("parameters") or {}
                   for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)
                   and isinstance(t["function"].get("name"), str)}
        allowed = frozenset(schemas)
        with self.lock:
            result = self.result
            result.turns += 1
            result.model_seconds += seconds
            result.finish_reasons[str(response.finish_reason)] += 1
            if response.prompt_tokens is None or response.completion_tokens is None:
                result.tokens_estimated = True  # ~4 characters a token, as the built-in loop does
                prompt = len(json.dumps(request.get("messages") or [])) // 4
                completion = (len(response.content or "") + len(response.reasoning or "")) // 4
            else:
                prompt, completion = max(response.prompt_tokens, 0), max(response.completion_tokens, 0)
            result.prompt_tokens += prompt
            result.completion_tokens += completion
            calls = prepare_calls(response, result.turns, allowed, schemas) if allowed else []
            result.tool_calls += len(calls)
            result.malformed_tool_calls += sum(1 for call in calls if call.malformed)
            # The same per-tool statistics and token split as the built-in loop. The proxy never
            # sees a tool run: a call's error here is a malformed call (the loop counts those too).
            result.stats.reasoning(response.reasoning_tokens, response.reasoning, completion)
            result.stats.turn(len(calls), completion)
            for call in calls:
                result.quirks.update(call.quirks)
                result.stats.call(call.name, error=call.malformed)
            if not response.tool_calls and allowed and find_tool_confusion(response.content, allowed):
                # A call written as text where native tool calls were offered (seed 004).
                result.quirks["tool_confusion"] += 1
            sent = [(call.name, call.raw_arguments) for call in calls]
            result.last_reply = reply_excerpt(response.content, response.reasoning, sent)
            self.digest.add(response.content, sent)
            result.conversation_digest = self.digest.hexdigest
            result.final_message = response.content
            result.claimed = bool((response.content or "").strip()) and not response.tool_calls
        return {"event": "turn", "turn": result.turns, "via": "proxy", "response": {
            "content": response.content, "reasoning": response.reasoning,
            "finish_reason": response.finish_reason,
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.raw_arguments} for c in calls],
            "prompt_tokens": response.prompt_tokens, "completion_tokens": response.completion_tokens,
            "seconds": round(seconds, 4)}}


def _error_body(message: str, kind: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": kind}}).encode()


class _Handler(BaseHTTPRequestHandler):
    server: Any  # _ProxyServer or _UnixProxyServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        if self.connection.family != socket.AF_UNIX:
            # Headers and body go out in two writes: without TCP_NODELAY each reply stalls
            # ~40 ms on Nagle + delayed ACK (DESIGN §7 measured the same on ScriptedServer).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args: Any) -> None:  # the transcript is the log
        pass

    def address_string(self) -> str:  # Unix sockets have no (host, port)
        return "agent"

    def do_GET(self) -> None:  # /v1/models and the like: forwarded as they are, not recorded
        self._forward(None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, _error_body("request body too large", "agentbench_proxy"))
            return
        raw = self.rfile.read(length)
        try:
            request = json.loads(raw)
        except ValueError:
            request = None
        chat = self.path.rstrip("/").endswith("/chat/completions") and isinstance(request, dict)
        record: ProxyRecord = self.server.record
        if chat:
            problem = record.budget_problem()
            if problem:
                self._send(400, _error_body(f"agentbench: {problem}; stop now", "agentbench_budget"))
                return
            on_request = self.server.proxy.on_request
            if on_request is not None:  # pytest_agentbench_request, as for the built-in loop
                try:
                    on_request(request)
                    raw = json.dumps(request).encode()
                except Exception as exc:  # noqa: BLE001 - a conftest's hook: any error, the harness's
                    record.halt("infra_error", f"the pytest_agentbench_request hook raised "
                                f"{exc.__class__.__name__}: {exc}", kind="harness_error")
                    self._send(500, _error_body("agentbench: the request hook failed; stop now", "agentbench_hook"))
                    return
        self._forward(raw, request if chat else None)

    def _forward(self, raw: bytes | None, request: dict[str, Any] | None = None) -> None:
        proxy: RecordingProxy = self.server.proxy
        record = proxy.record
        url = proxy.upstream_url(self.path)
        headers = {"Content-Type": "application/json"}
        if proxy.api_key:
            headers["Authorization"] = f"Bearer {proxy.api_key}"
        sent = time.monotonic()
        try:
            if request is not None and request.get("stream"):
                self._relay_stream(url, raw, headers, request, sent)
                return
            response = proxy.http.request("POST" if raw is not None else "GET", url, content=raw,
                                          headers=headers)
        except httpx.HTTPError as exc:
            record.halt("infra_error", f"model server unreachable through the proxy: "
                        f"{exc.__class__.__name__}: {exc}")
            self._send(502, _error_body(f"agentbench proxy: model server unreachable: {exc}", "upstream"))
            return
        seconds = time.monotonic() - sent
        self._send(response.status_code, response.content, response.headers.get("content-type"))
        if request is not None:
            self._record(request, response.status_code, response.content, seconds)

    def _relay_stream(self, url: str, raw: bytes | None, headers: dict[str, str],
                      request: dict[str, Any], sent: float) -> None:
        proxy: RecordingProxy = self.server.proxy
        chunks: list[bytes] = []
        with proxy.http.stream("POST", url, content=raw, headers=headers) as response:
            self.send_response(response.status_code)
            self.send_header("Content-Type", response.headers.get("content-type", "text/event-stream"))
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                self.wfile.write(chunk)
                self.wfile.flush()
        self.close_connection = True
        body = b"".join(chunks)
        if response.status_code == 200:
            self._record(request, 200, reassemble_stream(body), time.monotonic() - sent)
        else:
            self._record(request, response.status_code, body, time.monotonic() - sent)

    def _record(self, request: dict[str, Any], status: int, body: bytes | dict, seconds: float) -> None:
        proxy: RecordingProxy = self.server.proxy
        record = proxy.record
        if status != 200:
            with record.lock:
                record.upstream_errors += 1
            proxy.log({"event": "upstream_error", "status": status,
                       "body": (body if isinstance(body, bytes) else json.dumps(body).encode())[:500].decode(errors="replace")})
            return
        try:
            parsed = body if isinstance(body, dict) else json.loads(body)
            entry = record.account(request, parsed, seconds)
        except (ValueError, InfraError) as exc:
            with record.lock:
                record.upstream_errors += 1
            proxy.log({"event": "upstream_error", "status": status, "problem": str(exc)[:500]})
            return
        proxy.log({**entry, "request_messages": len(request.get("messages") or [])})

    def _send(self, status: int, body: bytes, content_type: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type or "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _TcpServer(ThreadingHTTPServer):
    daemon_threads = True


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class RecordingProxy:
    """``with RecordingProxy(upstream, budget) as proxy:`` — point the agent at ``proxy.url`` (TCP)
    or bind ``proxy.socket_path`` into its jail. ``proxy.record.result`` is the loop record."""

    def __init__(self, upstream: str, budget: ResolvedBudget, transcript: Transcript | None = None,
                 api_key: str | None = None, socket_path: Path | None = None,
                 request_timeout: float = 600.0,
                 on_request: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.on_request = on_request  # adjusts each chat body before it is forwarded
        self.api_key = api_key
        self.transcript = transcript
        self.record = ProxyRecord(budget)
        self.http = httpx.Client(timeout=request_timeout)
        self._log_lock = threading.Lock()
        self.socket_path = socket_path
        server: Any
        if socket_path is not None:
            server = _UnixServer(str(socket_path), _Handler)
            os.chmod(socket_path, 0o600)
        else:
            server = _TcpServer(("127.0.0.1", 0), _Handler)
        server.proxy, server.record = self, self.record
        self.server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="agentbench-proxy", daemon=True)

    @property
    def url(self) -> str:
        """The base URL an agent on this host uses (TCP proxies only)."""
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def upstream_url(self, path: str) -> str:
        """The agent asks for ``/v1/chat/completions`` (or without ``/v1``): the upstream's base
        URL already ends with its own prefix (``/v1``), so only the rest is appended."""
        rest = path.split("?", 1)[0]
        if rest.startswith("/v1/") or rest == "/v1":
            rest = rest[3:]
        return self.upstream + rest

    def log(self, entry: dict[str, Any]) -> None:
        if self.transcript is not None:
            with self._log_lock:
                self.transcript.write(entry)

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._thread.is_alive():  # shutdown() of a server that never served would wait forever
            self.server.shutdown()
        self.server.server_close()
        self.http.close()
        if self.socket_path is not None:
            try:
                os.unlink(self.socket_path)
            except FileNotFoundError:
                pass
