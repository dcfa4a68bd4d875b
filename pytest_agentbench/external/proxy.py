"""The recording proxy: an OpenAI-compatible endpoint between an external agent and the model
server. From the traffic itself it records what the built-in loop records (turns, tokens, finish
reasons, tool calls and malformed ones, tool-call confusion) into a
:class:`~pytest_agentbench.agent.loop.LoopResult` and the attempt's transcript, and it holds the
agent to the attempt's turn and token budgets: past them the agent gets an error reply and the
harness is told to stop it. A model server it cannot reach is an infrastructure fault, never the
model's.

Every request is either refused (a JSON error, nothing forwarded) or counted before it is
forwarded: which endpoints are served and why is in ``routes.py``, how turns are reserved and
counted in ``record.py``, the HTTP side in ``handler.py``.

It listens on a Unix socket (bound into the agent's jail, where ``forwarder.py`` serves it on the
jail's own loopback) or on a loopback TCP port (the ``none`` tier, and tests).
"""

from __future__ import annotations

import os
import socketserver
import sys
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pytest_agentbench.agent.loop import Transcript
from pytest_agentbench.external.handler import Handler
from pytest_agentbench.external.record import ProxyRecord
from pytest_agentbench.schemas.canary import ResolvedBudget
from pytest_agentbench.servers.http import http_client

__all__ = ["ProxyRecord", "RecordingProxy"]

CLOSE_GRACE = 10.0  # seconds close() waits for requests in flight


class _Quiet:
    def handle_error(self, request: Any, client_address: Any) -> None:
        # An agent that hangs up mid-reply is its own business; anything else is a bug to show.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)  # type: ignore[misc]


class _TcpServer(_Quiet, ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # an agent's burst of connections waits to be accepted, not reset


class _UnixServer(_Quiet, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 64


class RecordingProxy:
    """``with RecordingProxy(upstream, budget) as proxy:`` — point the agent at ``proxy.url`` (TCP)
    or bind ``proxy.socket_path`` into its jail. ``proxy.record.result`` is the loop record."""

    def __init__(self, upstream: str, budget: ResolvedBudget, transcript: Transcript | None = None,
                 api_key: str | None = None, socket_path: Path | None = None,
                 request_timeout: float = 600.0,
                 on_request: Callable[[dict[str, Any]], None] | None = None) -> None:
        # The upstream's base URL ends with its own prefix (``/v1``): endpoints are appended to it.
        self.upstream = upstream.rstrip("/")
        self.on_request = on_request  # adjusts each chat body before it is forwarded
        self.headers = {"Content-Type": "application/json"}  # the only headers that go upstream
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.transcript = transcript
        self.record = ProxyRecord(budget)
        self.http = http_client(timeout=request_timeout)
        self.models_lock = threading.Lock()
        self.models_answer: tuple[int, bytes, str | None] | None = None
        self._log_lock = threading.Lock()
        self.socket_path = socket_path
        self.closed = False
        server: Any
        if socket_path is not None:
            server = _UnixServer(str(socket_path), Handler)
            os.chmod(socket_path, 0o600)
        else:
            server = _TcpServer(("127.0.0.1", 0), Handler)
        server.proxy, server.record = self, self.record
        self.server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="agentbench-proxy", daemon=True)

    @property
    def url(self) -> str:
        """The base URL an agent on this host uses (TCP proxies only)."""
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def log(self, entry: dict[str, Any]) -> None:
        if self.transcript is not None:
            with self._log_lock:
                self.transcript.write(entry)

    def __enter__(self) -> RecordingProxy:  # noqa: PYI034 (typing.Self needs 3.11)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving; the requests still in flight get ``CLOSE_GRACE`` seconds to be answered
        and recorded, then the rest are cut off: no reply, no turn, as when the built-in loop's
        deadline cuts off a generation."""
        if self._thread.is_alive():  # shutdown() of a server that never served would wait forever
            self.server.shutdown()
        self.server.server_close()
        self.record.wait_idle(CLOSE_GRACE)
        self.closed = True
        if self.record.in_flight:
            self.log({"event": "proxy_cut_off", "requests": self.record.in_flight})
        with self._log_lock:
            self.transcript = None  # the caller closes it next
        self.http.close()
        if self.socket_path is not None:
            try:
                os.unlink(self.socket_path)
            except FileNotFoundError:
                pass
