"""``ScriptedServer``: a real loopback HTTP server speaking the OpenAI chat-completions protocol,
answering from a script. Use it to test canaries, harness extensions — and this plugin.

    from pytest_agentbench.testing import ScriptedServer, call, say

    script = [call("write_file", path="x.py", content="X = 1\\n"), say("Done.")]
    with ScriptedServer(script) as server:
        ...  # point a model at server.url, e.g. --models fake@{server.url}

A script is one of:

* a list of replies, indexed by the *turn* of the conversation (the number of assistant
  messages already in the request). Scripts are therefore stateless: every attempt of every
  repeat, on any xdist worker, sees the same reply at the same turn. Past the end of the list the
  server answers a plain final message;
* a function ``request_body -> reply``;
* a dict ``{model_name: script}``, choosing a script by the request's ``model``.

A reply is a dict (build it with :func:`say`, :func:`call`, :func:`calls`, :func:`http_error`,
:func:`raw`) with any of: ``content``, ``tool_calls`` (sent as given, so a value that breaks the
protocol can be scripted), ``reasoning_content`` or ``reasoning`` (llama.cpp / Ollama spelling),
``finish_reason``, ``usage`` (a dict, or ``None`` to omit the block), ``timings``, ``status`` +
``body`` (an HTTP error or a raw body, e.g. ``{"choices": []}`` — see :func:`raw`), ``delay``
(seconds to wait before answering), ``close`` (drop the connection).

Replies go out as JSON with ``ensure_ascii``: odd text a model may send — a lone surrogate such
as ``"\\ud800"`` — travels as the escape a real server would send.

``batching`` (optional, a :class:`Batching`) makes the server take time to generate, as a batching
server does: each reply's completion tokens at ``token_seconds × n ** exponent`` a token while
``n`` chat requests are in flight, so that total throughput grows sub-linearly with concurrency
(``exponent`` 0: perfect batching, 1: none). ``busy_seconds`` and ``max_in_flight`` say how busy it
was, for any server.

``routes`` (optional) serves other endpoints, for GET and POST alike, and takes precedence over the
built-in ones: ``{"/props": {...}}`` maps a path (query string ignored) to a JSON-able body, to a
function ``request_body_or_None -> body``, or to ``{"status": 404, "body": "Not Found",
"content_type": "text/plain"}`` for a status other than 200 or a non-JSON body. Use it to imitate a
real server's native endpoints (llama.cpp ``/props``, Ollama ``/api/show``, vLLM ``/version``...).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = dict[str, Any]
Script = list[Reply] | Callable[[dict[str, Any]], Reply] | dict[str, Any]
Routes = dict[str, Any]
_RAW_KEYS = {"status", "body", "content_type"}

END_OF_SCRIPT = "(end of script) I am done."


def tool_call(name: str, arguments: Any = None, *, id: str | None = "auto") -> dict[str, Any]:
    """One tool call. ``arguments`` may be a dict (sent as a JSON string, as the protocol says),
    a raw string (sent verbatim — use it for malformed JSON) or anything else JSON-able.
    ``id=None`` omits the call id, as some servers do."""
    if isinstance(arguments, str):
        raw = arguments
    else:
        raw = json.dumps(arguments if arguments is not None else {})
    entry: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": raw}}
    if id is not None:
        entry["id"] = f"call_{uuid.uuid4().hex[:12]}" if id == "auto" else id
    return entry


def call(name: str, **arguments: Any) -> Reply:
    """A reply holding a single tool call."""
    return {"content": "", "tool_calls": [tool_call(name, arguments)]}


def calls(*entries: dict[str, Any], content: str = "") -> Reply:
    """A reply holding several tool calls built with :func:`tool_call`."""
    return {"content": content, "tool_calls": list(entries)}


def say(text: str, **extra: Any) -> Reply:
    """A plain assistant message (no tool call): the agent's final answer."""
    return {"content": text, **extra}


def http_error(status: int, message: str = "scripted failure") -> Reply:
    return {"status": status, "body": {"error": {"message": message, "code": status}}}


def raw(body: Any, status: int = 200) -> Reply:
    """Answer ``body`` verbatim (a JSON-able value, or a string sent as is): a reply whose shape
    the helpers above would not produce, e.g. ``raw({"choices": [{"message": None}]})``."""
    return {"status": status, "body": body}


def _turn(body: dict[str, Any]) -> int:
    return sum(1 for m in body.get("messages", []) if isinstance(m, dict) and m.get("role") == "assistant")


def varied(script: list[Reply]) -> Callable[[dict[str, Any]], Reply]:
    """``script`` with the request's sampling seed appended to every text reply. Repeats of a
    plain list script are byte-identical, and identical repeats count as one sample (summary
    intervals, ``compare``): use this where a test needs repeats to differ as independently
    sampled ones would (each repeat sends its own seed)."""
    def reply(body: dict[str, Any]) -> Reply:
        turn = _turn(body)
        base = script[turn] if turn < len(script) else say(END_OF_SCRIPT)
        if base.get("content"):
            return {**base, "content": f"{base['content']} (seed {body.get('seed')})"}
        return base
    return reply


@dataclass(frozen=True)
class Batching:
    """How a batching server's decoding slows as requests share it: ``token_seconds`` a token
    alone, times ``n ** exponent`` while ``n`` requests are in flight (llama.cpp with parallel
    slots and vLLM both sit between 0 and 1)."""

    token_seconds: float = 0.002
    exponent: float = 0.5
    step: float = 0.005  # how often a generation looks at the number in flight again


class ScriptedServer:
    def __init__(
        self, script: Script, host: str = "127.0.0.1", port: int = 0, routes: Routes | None = None,
        batching: Batching | None = None,
    ) -> None:
        self.script = script
        self.routes: Routes = dict(routes or {})
        self.batching = batching
        self.requests: list[dict[str, Any]] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._busy = 0.0  # seconds with a chat request in flight, up to _busy_since
        self._busy_since: float | None = None
        self._lock = threading.Lock()
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> ScriptedServer:
        # A short poll interval: stop() waits up to one interval, 0.5 s by default, per server.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="ScriptedServer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:  # noqa: PYI034 (typing.Self needs 3.11)
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def busy_seconds(self) -> float:
        """Time during which at least one chat request was in flight."""
        with self._lock:
            since = self._busy_since
            return self._busy + (time.monotonic() - since if since is not None else 0.0)

    def _enter(self) -> None:
        with self._lock:
            if self._in_flight == 0:
                self._busy_since = time.monotonic()
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1
            if self._in_flight == 0 and self._busy_since is not None:
                self._busy += time.monotonic() - self._busy_since
                self._busy_since = None

    def generate(self, tokens: int) -> None:
        """Take the time ``batching`` gives ``tokens`` completion tokens, the number of requests
        in flight looked at again every ``step``."""
        batching = self.batching
        if batching is None or tokens <= 0:
            return
        left = float(tokens)
        last = time.monotonic()
        while left > 0:
            per_token = batching.token_seconds * max(self._in_flight, 1) ** batching.exponent
            time.sleep(min(left * per_token, batching.step))
            now = time.monotonic()
            left -= (now - last) / per_token
            last = now

    # -- answering -------------------------------------------------------------------------------

    def reply_for(self, body: dict[str, Any]) -> Reply:
        script = self.script
        if isinstance(script, dict):
            script = script.get(body.get("model"), [http_error(404, f"model {body.get('model')!r} not found")])
        if callable(script):
            return script(body)
        turn = _turn(body)
        return script[turn] if turn < len(script) else say(END_OF_SCRIPT)

    def completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.get("content")}
        tool_calls = reply.get("tool_calls")
        if tool_calls:
            message["tool_calls"] = tool_calls
        for key in ("reasoning_content", "reasoning"):
            if key in reply:
                message[key] = reply[key]
        finish = reply.get("finish_reason") or ("tool_calls" if tool_calls else "stop")
        result: dict[str, Any] = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "scripted"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        }
        usage = reply.get("usage", "auto")
        if usage == "auto":
            prompt = len(json.dumps(body.get("messages", []))) // 4
            completion = max(1, len(json.dumps(message)) // 4)
            usage = {"prompt_tokens": prompt, "completion_tokens": completion,
                     "total_tokens": prompt + completion}
        if usage is not None:
            result["usage"] = usage
        if "timings" in reply:
            result["timings"] = reply["timings"]
        return result


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: ScriptedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its deadline passed during a scripted delay) is expected here.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Without TCP_NODELAY every response stalls ~44 ms on Nagle + delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, body: Any) -> bool:
        """Answer from ``routes`` when the path is there; False lets the built-in handlers answer."""
        routes = self.server.owner.routes
        path = self.path if self.path in routes else self.path.split("?", 1)[0]
        if path not in routes:
            return False
        reply = routes[path]
        if callable(reply):
            reply = reply(body)
        # {"status": int, ...} with only these keys is a raw reply; any other value is the body.
        if isinstance(reply, dict) and isinstance(reply.get("status"), int) and set(reply) <= _RAW_KEYS:
            self._send(reply["status"], reply.get("body", ""), reply.get("content_type", "application/json"))
        else:
            self._send(200, reply)
        return True

    def do_GET(self) -> None:
        if self._route(None):
            return
        if self.path.rstrip("/").endswith("/models"):
            script = self.server.owner.script
            names = list(script) if isinstance(script, dict) else ["scripted"]
            self._send(200, {"object": "list", "data": [{"id": n, "object": "model"} for n in names]})
        elif self.path.startswith("/health"):
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.server.owner.routes:
            try:
                routed_body = json.loads(raw) if raw else None
            except ValueError:
                routed_body = None
            if self._route(routed_body):
                return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, {"error": {"message": "request body is not JSON"}})
            return
        owner = self.server.owner
        with owner._lock:
            owner.requests.append(body)
        owner._enter()
        try:
            self._complete(owner, body)
        finally:
            owner._leave()

    def _complete(self, owner: ScriptedServer, body: dict[str, Any]) -> None:
        try:
            reply = owner.reply_for(body)
        except Exception as exc:  # noqa: BLE001 (a broken script is a 500, visible to the client)
            self._send(500, {"error": {"message": f"script raised {exc!r}"}})
            return
        if reply.get("delay"):
            time.sleep(reply["delay"])
        if reply.get("close"):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if "status" in reply or "body" in reply:
            self._send(reply.get("status", 200), reply.get("body", ""))
            return
        completion = owner.completion(body, reply)
        if owner.batching is not None:
            usage = completion.get("usage")
            tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
            message = completion["choices"][0]["message"]
            owner.generate(tokens if isinstance(tokens, int) else max(1, len(json.dumps(message)) // 4))
        if body.get("stream"):
            self._stream(completion)
        else:
            self._send(200, completion)

    def _stream(self, completion: dict[str, Any]) -> None:
        """``stream: true``: the same reply as server-sent events, as OpenAI-compatible servers
        send it — content in pieces, each tool call's name then its arguments in two pieces, the
        finish reason, then usage (when there is one) and ``[DONE]``."""
        choice = completion["choices"][0]
        message = choice["message"]
        base = {key: completion[key] for key in ("id", "object", "created", "model")}
        base["object"] = "chat.completion.chunk"
        deltas: list[dict[str, Any]] = [{"role": "assistant"}]
        text = message.get("content") or ""
        deltas += [{"content": text[i:i + 8]} for i in range(0, len(text), 8)]
        for index, call in enumerate(message.get("tool_calls") or []):
            function = call.get("function") or {}
            arguments = str(function.get("arguments") or "")
            half = len(arguments) // 2
            deltas.append({"tool_calls": [{"index": index, "id": call.get("id"), "type": "function",
                                           "function": {"name": function.get("name"), "arguments": arguments[:half]}}]})
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]})
        chunks = [{**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]} for delta in deltas]
        chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]})
        if "usage" in completion:
            chunks.append({**base, "choices": [], "usage": completion["usage"]})
        data = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(data.encode())))
        self.end_headers()
        self.wfile.write(data.encode())


