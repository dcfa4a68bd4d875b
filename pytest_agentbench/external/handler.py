"""The recording proxy's HTTP handler: every request is routed (``routes.py``), then either refused
with a JSON error, nothing forwarded, or counted (``record.py``) and forwarded to the model server
with the proxy's own URL and headers. Chat replies are recorded before the agent reads them, so an
agent that hangs up has still spent its turn; streamed replies are relayed chunk by chunk and
reassembled for the record."""

from __future__ import annotations

import json
import socket
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

import httpx

from pytest_agentbench.attempt.faults import FaultKind, server_fault
from pytest_agentbench.external.record import OverBudget, Turn
from pytest_agentbench.external.routes import MODELS, chat_problem, route
from pytest_agentbench.external.sse import reassemble_stream
from pytest_agentbench.servers.client import InfraError

if TYPE_CHECKING:
    from pytest_agentbench.external.proxy import RecordingProxy

MAX_BODY = 64 << 20  # a request body larger than this is refused (the agent's bug, not ours)
LOGGED_REFUSALS = 20  # refusals written to the transcript one by one; the rest are only counted


def _error_body(message: str, kind: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": kind}}).encode()


class Handler(BaseHTTPRequestHandler):
    """One agent connection: each request is routed, then refused or counted and forwarded."""

    server: Any  # the proxy's server: ``server.proxy`` is the RecordingProxy
    protocol_version = "HTTP/1.1"
    # Seconds an agent's connection may sit idle (no request, a reply it does not read) before it
    # is closed, so an agent cannot pin the proxy's threads for ever.
    timeout = 120

    def setup(self) -> None:
        super().setup()
        if self.connection.family != socket.AF_UNIX:
            # Headers and body go out in two writes: without TCP_NODELAY each reply stalls
            # ~40 ms on Nagle + delayed ACK.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args: Any) -> None:  # the transcript is the log
        pass

    def address_string(self) -> str:  # Unix sockets have no (host, port)
        return "agent"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (a method with no ``do_`` handler, a malformed
        request line) answer in JSON too; a method the proxy does not serve is a 405."""
        if code == HTTPStatus.NOT_IMPLEMENTED:
            code, message = HTTPStatus.METHOD_NOT_ALLOWED, f"{self.command} is not served by the agentbench proxy"
            self._read_body()
        self._refuse(code, message or HTTPStatus(code).phrase)

    def _serve(self) -> None:
        # The body is read before anything is decided: a reply sent while the agent's body sits
        # unread would be lost to the connection reset that closing then causes.
        raw = self._read_body()
        if not isinstance(raw, bytes):
            self._refuse(*raw)
            return
        where = route(self.command, self.path)
        if where.endpoint is None:
            self._refuse(where.status, where.message, allow=where.allow)
        elif where.endpoint == MODELS:
            self._models()
        else:
            self._chat(raw)

    def _read_body(self) -> bytes | tuple[int, str]:
        """The request body, read whole by its Content-Length, or the status and reason it cannot
        be: nothing forwarded may be a body the proxy did not read whole."""
        if self.headers.get("Transfer-Encoding"):
            return HTTPStatus.LENGTH_REQUIRED, "send the request body with a Content-Length"
        length = (self.headers.get("Content-Length") or "0").strip()
        if not length.isdigit():
            return HTTPStatus.BAD_REQUEST, f"Content-Length {length[:40]!r} is not a number of bytes"
        if int(length) > MAX_BODY:
            return HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large"
        return self.rfile.read(int(length))

    def _models(self) -> None:
        """The model listing, asked of the server once per run (it costs no turn, so it must not
        be a way to keep the server busy either)."""
        proxy: RecordingProxy = self.server.proxy
        with proxy.models_lock:
            answer = proxy.models_answer
            if answer is None:
                try:
                    response = proxy.http.get(proxy.upstream + "/models", headers=proxy.headers)
                except httpx.HTTPError as exc:
                    self._unreachable(exc)
                    return
                answer = (response.status_code, response.content, response.headers.get("content-type"))
                if response.status_code < 500:
                    proxy.models_answer = answer
                else:
                    proxy.record.failed()
        self._send(*answer)

    def _chat(self, raw: bytes) -> None:
        proxy: RecordingProxy = self.server.proxy
        try:
            request = json.loads(raw)
        except ValueError:
            request = None
        problem = chat_problem(request)
        if problem:
            self._refuse(HTTPStatus.BAD_REQUEST, f"agentbench: {problem}")
            return
        try:
            turn = proxy.record.reserve()
        except OverBudget as exc:
            self._refuse(HTTPStatus.BAD_REQUEST, f"agentbench: {exc}; stop now", "agentbench_budget")
            return
        try:
            if proxy.on_request is not None:  # pytest_agentbench_request, as for the built-in loop
                try:
                    proxy.on_request(request)
                    raw = json.dumps(request).encode()
                except Exception as exc:  # noqa: BLE001 - a conftest's hook: any error, the harness's
                    proxy.record.halt("infra_error", f"the pytest_agentbench_request hook raised "
                                      f"{exc.__class__.__name__}: {exc}", kind="harness_error")
                    self._send(500, _error_body("agentbench: the request hook failed; stop now", "agentbench_hook"))
                    return
            if request.get("stream"):
                self._relay_stream(raw, request, turn)
            else:
                self._forward(raw, request, turn)
        finally:
            turn.release()  # nothing was asked of the model after all (a no-op once spent)

    def _forward(self, raw: bytes, request: dict[str, Any], turn: Turn) -> None:
        proxy: RecordingProxy = self.server.proxy
        sent = time.monotonic()
        try:
            response = proxy.http.post(proxy.upstream + "/chat/completions", content=raw, headers=proxy.headers)
        except httpx.HTTPError as exc:
            self._unreachable(exc)
            return
        # Recorded before the agent reads it: an agent that hangs up has still spent the turn.
        self._record(request, turn, response.status_code, response.content, time.monotonic() - sent)
        self._send(response.status_code, response.content, response.headers.get("content-type"))

    def _relay_stream(self, raw: bytes, request: dict[str, Any], turn: Turn) -> None:
        proxy: RecordingProxy = self.server.proxy
        chunks: list[bytes] = []
        relaying = started = False
        sent = time.monotonic()
        self.close_connection = True
        try:
            with proxy.http.stream("POST", proxy.upstream + "/chat/completions", content=raw,
                                   headers=proxy.headers) as response:
                status = response.status_code
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", response.headers.get("content-type", "text/event-stream"))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    relaying = started = True
                except OSError:
                    pass
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    if not relaying:
                        break  # the agent hung up: stop the generation, what came so far is the turn
                    try:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                    except OSError:
                        relaying = False
        except httpx.HTTPError as exc:
            if started and not proxy.closed:  # the agent has its headers: the broken stream is all it gets
                proxy.record.halt("infra_error", f"model server unreachable through the proxy: "
                                  f"{exc.__class__.__name__}: {exc}")
            else:
                self._unreachable(exc)
            return
        body = b"".join(chunks)
        self._record(request, turn, status, reassemble_stream(body) if status == 200 else body,
                     time.monotonic() - sent)

    def _record(self, request: dict[str, Any], turn: Turn, status: int, body: bytes | dict, seconds: float) -> None:
        proxy: RecordingProxy = self.server.proxy
        record = proxy.record
        text = (body if isinstance(body, bytes) else json.dumps(body).encode()).decode(errors="replace")
        parsed: Any = None
        if status == 200:
            try:
                parsed = body if isinstance(body, dict) else json.loads(body)
            except ValueError:
                parsed = None
        # One reading of server errors for every driver (attempt/faults.py): a 200 whose body is an error
        # is one too.
        erred = status != 200 or (isinstance(parsed, dict) and "error" in parsed and "choices" not in parsed)
        if erred:
            kind = server_fault(status, text) or FaultKind.SERVER_ERROR
            proxy.log({"event": "upstream_error", "status": status, "kind": kind.value, "body": text[:500]})
            if kind is FaultKind.CONTEXT_OVERFLOW:
                record.context_overflow(turn, text)
            else:
                record.failed(turn, kind)
            return
        try:
            entry = record.account(request, parsed, seconds, turn)
        except (ValueError, InfraError) as exc:
            record.failed(turn, FaultKind.PROTOCOL_VIOLATION)
            proxy.log({"event": "upstream_error", "status": status, "problem": str(exc)[:500]})
            return
        proxy.log({**entry, "request_messages": len(request.get("messages") or [])})

    def _unreachable(self, exc: httpx.HTTPError) -> None:
        if self.server.proxy.closed:  # cut off by close(): the attempt has already ended
            return
        self.server.proxy.record.halt("infra_error", f"model server unreachable through the proxy: "
                                      f"{exc.__class__.__name__}: {exc}")
        self._send(502, _error_body(f"agentbench proxy: model server unreachable: {exc}", "upstream"))

    def _refuse(self, status: int, message: str, kind: str = "agentbench_proxy", allow: str | None = None) -> None:
        """Answer without forwarding anything; the connection closes (an unread body may follow)."""
        proxy: RecordingProxy = self.server.proxy
        with proxy.record.lock:
            proxy.record.refused += 1
            count = proxy.record.refused
        if count <= LOGGED_REFUSALS:
            proxy.log({"event": "proxy_refused", "method": self.command,
                       "path": str(getattr(self, "path", ""))[:200], "status": int(status), "message": message})
        self.close_connection = True
        self._send(status, _error_body(message, kind), headers={"Allow": allow} if allow else None)

    def _send(self, status: int, body: bytes, content_type: str | None = None,
              headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type or "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:  # the agent hung up: what it asked for is already counted
            self.close_connection = True
