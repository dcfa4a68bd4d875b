"""The recording proxy counts everything it forwards: a hostile agent gets no more out of the model
than its budget, whatever path, query string, method or concurrency it tries; what it may not
have is refused with a JSON error and never reaches the model server."""

from __future__ import annotations

import http.client
import json
import socket
import sys
import textwrap
import threading
import time
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

import pytest

from pytest_agentbench.external.proxy import RecordingProxy
from pytest_agentbench.external.run import run_external_agent
from pytest_agentbench.run.session import JsonlTranscript
from pytest_agentbench.sandbox.commands import Sandbox, bubblewrap_problem, command_env
from pytest_agentbench.schemas.canary import ResolvedBudget
from pytest_agentbench.testing import ScriptedServer, call, say
from pytest_agentbench.trees import safe_fs
from tests.conftest import HELLO_CHECK, agent_requests

AGENTS = Path(__file__).parent / "agents"
HOSTILE, HONEST = AGENTS / "hostile_agent.py", AGENTS / "tiny_agent.py"
NO_BWRAP = bool(bubblewrap_problem())
tiers = pytest.mark.parametrize("jail", [
    pytest.param(True, marks=pytest.mark.skipif(NO_BWRAP, reason="no bubblewrap"), id="bubblewrap"),
    pytest.param(False, id="none")])
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


class EveryPath(dict):
    """ScriptedServer routes that answer, and note, every path but chat completions: whatever the
    proxy forwards elsewhere shows up in ``seen``."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __bool__(self) -> bool:
        return True

    def __contains__(self, path: object) -> bool:
        return not str(path).split("?", 1)[0].rstrip("/").endswith("/chat/completions")

    def __getitem__(self, path: str) -> dict:
        self.seen.append(path)
        if path.split("?", 1)[0].rstrip("/").endswith("/models"):
            return {"object": "list", "data": [{"id": "m", "object": "model"}]}
        return {"reached": path}


@contextmanager
def upstream(delay: float = 0.0):
    """A model server that answers every chat request (after ``delay``) and notes every other path."""
    with ScriptedServer(lambda body: say("ok", delay=delay)) as server:
        server.routes = EveryPath()
        yield server


@contextmanager
def proxy_to(server: ScriptedServer, turns: int = 3):
    """A TCP proxy with a real API key; ``proxy.sent`` lists every request it sent upstream."""
    budget = ResolvedBudget(turns=turns, tokens=1_000_000, seconds=60)
    with RecordingProxy(server.url, budget, api_key="sk-real") as proxy:
        sent: list[tuple[str, str]] = []
        proxy.http.event_hooks = {"request": [lambda r: sent.append((r.method, r.url.raw_path.decode()))]}
        proxy.sent = sent
        yield proxy


def send(proxy: RecordingProxy, method: str, path: str, body: object = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict | None]:
    """``path`` exactly as given (no client normalises it); the status and the JSON body, if any."""
    address = urllib.parse.urlsplit(proxy.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    try:
        connection.request(method, path, data, {"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(raw) if raw else None
    except ValueError:
        return response.status, None


def refused_cleanly(status: int, body: dict | None, method: str = "POST") -> bool:
    """A 4xx with an OpenAI-style JSON error (HEAD replies carry no body)."""
    if not 400 <= status < 500:
        return False
    return method == "HEAD" or (isinstance(body, dict) and bool(body["error"]["message"]))


# -- the proxy on its own ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/chat/completions?x=1", "/v1/chat/completions?", "/v1/chat/completions/",
                                  "/v1//chat/completions", "/chat/completions?stream=false",
                                  "/v1/chat/completions#frag", "http://elsewhere/v1/chat/completions?x=1"])
def test_no_spelling_of_the_chat_path_dodges_the_turn_budget(path):
    with upstream() as server, proxy_to(server, turns=3) as proxy:
        answers = [send(proxy, "POST", path, CHAT) for _ in range(10)]
        result = proxy.record.result
        assert [status for status, _ in answers] == [200] * 3 + [400] * 7
        assert all("turn budget of 3 exhausted" in body["error"]["message"] for _, body in answers[3:])
        assert len(server.requests) == 3 and server.routes.seen == []
        assert proxy.sent == [("POST", "/v1/chat/completions")] * 3  # never the agent's query string
        assert (result.turns, result.stop_reason, result.limit_hit) == (3, "budget_turns", "turn_budget")


REFUSED = [("POST", "/v1/completions", 404), ("POST", "/v1/embeddings", 404), ("POST", "/v1/responses", 404),
           ("GET", "/anything", 404), ("GET", "/v1/anything", 404), ("GET", "/health", 404),
           ("GET", "/v1/models/m", 404), ("POST", "/v1/chat/completions/x", 404), ("GET", "/v1/chat%2Fcompletions", 404),
           ("GET", "/v1/chat/completions", 405), ("POST", "/v1/models", 405), ("PUT", "/v1/chat/completions", 405),
           ("PATCH", "/v1/chat/completions", 405), ("DELETE", "/v1/models", 405), ("HEAD", "/v1/models", 405),
           ("OPTIONS", "/v1/chat/completions", 405), ("BREW", "/v1/chat/completions", 405)]


@pytest.mark.parametrize(("method", "path", "status"), REFUSED, ids=[f"{m} {p}" for m, p, _ in REFUSED])
def test_other_paths_and_methods_are_refused_and_never_forwarded(method, path, status):
    with upstream() as server, proxy_to(server) as proxy:
        answers = [send(proxy, method, path, CHAT if method != "HEAD" else None) for _ in range(5)]
        assert [a for a, _ in answers] == [status] * 5, answers
        assert all(refused_cleanly(*answer, method) for answer in answers)
        assert proxy.sent == [] and server.requests == [] and server.routes.seen == []
        assert proxy.record.result.turns == 0 and not proxy.record.stop.is_set()
        # The agent that asked goes on as an honest one: its chat requests are served and counted.
        assert send(proxy, "POST", "/v1/chat/completions", CHAT)[0] == 200
        assert proxy.record.result.turns == 1 and len(server.requests) == 1


@pytest.mark.parametrize(("body", "headers", "status"), [
    (b"{not json", {}, 400), (b"[1, 2]", {}, 400), (b"", {}, 400),
    ({**CHAT, "n": 5}, {}, 400), ({**CHAT, "best_of": 3}, {}, 400),
    (None, {"Content-Length": "-5"}, 400), (None, {"Content-Length": "ten"}, 400),
    (None, {"Transfer-Encoding": "chunked"}, 411)],
    ids=["not-json", "not-an-object", "empty", "n", "best_of", "negative-length", "bad-length", "chunked"])
def test_a_chat_request_the_proxy_cannot_count_is_refused(body, headers, status):
    with upstream() as server, proxy_to(server) as proxy:
        answer = send(proxy, "POST", "/v1/chat/completions", body, headers)
        assert answer[0] == status and refused_cleanly(*answer), answer
        assert proxy.sent == [] and server.requests == []
        assert proxy.record.result.turns == 0 and not proxy.record.stop.is_set()


def test_the_model_listing_costs_no_turn_and_reaches_the_server_once():
    with upstream() as server, proxy_to(server, turns=1) as proxy:
        for path in ["/v1/models", "/models", "/v1/models?x=1", "/v1/models/"] * 3:
            status, body = send(proxy, "GET", path)
            assert status == 200 and body["data"][0]["id"] == "m"
        assert proxy.sent == [("GET", "/v1/models")]
        assert proxy.record.result.turns == 0 and not proxy.record.stop.is_set()
        assert send(proxy, "POST", "/v1/chat/completions", CHAT)[0] == 200  # the one turn is still there


def test_concurrent_requests_forward_no_more_than_the_turn_budget():
    with upstream(delay=0.3) as server, proxy_to(server, turns=3) as proxy:
        statuses: list[int] = []
        barrier = threading.Barrier(20)

        def one(index: int) -> None:
            barrier.wait()
            statuses.append(send(proxy, "POST", "/v1/chat/completions" + ("?x=1" if index % 2 else ""), CHAT)[0])

        threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(server.requests) <= 3 and len(proxy.sent) <= 3
        assert sorted(statuses) == [200] * len(server.requests) + [400] * (20 - len(server.requests))
        result = proxy.record.result
        assert result.turns == len(server.requests) and result.stop_reason == "budget_turns"
    with upstream() as server, proxy_to(server, turns=3) as proxy:  # an honest agent right after
        assert [send(proxy, "POST", "/v1/chat/completions", CHAT)[0] for _ in range(3)] == [200] * 3
        assert proxy.record.result.turns == 3 and not proxy.record.stop.is_set()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_reply_the_agent_hangs_up_on_still_costs_its_turn(stream):
    with upstream(delay=0.3) as server, proxy_to(server, turns=3) as proxy:
        address = urllib.parse.urlsplit(proxy.url)
        body = json.dumps({**CHAT, "stream": stream}).encode()
        with socket.create_connection((address.hostname, address.port)) as raw:
            raw.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(body) + body)
        deadline = time.monotonic() + 10
        while proxy.record.result.turns == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(server.requests) == 1 and proxy.record.result.turns == 1


def test_a_server_failing_every_request_ends_the_attempt_instead_of_being_asked_forever():
    with ScriptedServer(lambda body: {"status": 500, "body": "boom"}) as server, proxy_to(server, turns=3) as proxy:
        statuses = [send(proxy, "POST", "/v1/chat/completions", CHAT)[0] for _ in range(30)]
        record = proxy.record
        assert record.result.stop_reason == "infra_error" and record.result.turns == 0
        assert len(server.requests) == record.upstream_errors < 30
        assert statuses[:record.upstream_errors] == [500] * record.upstream_errors
        assert set(statuses[record.upstream_errors:]) == {400}


# -- a hostile agent program, in the attempt's sandbox ------------------------------------------------


def run_agent(tmp_path: Path, program: list[str], jail: bool, server: ScriptedServer, turns: int = 3):
    worktree, home = tmp_path / "wt", tmp_path / "home"
    worktree.mkdir(parents=True)
    home.mkdir()
    transcript = JsonlTranscript(tmp_path / "t.jsonl")
    try:
        return run_external_agent(
            program, {"OPENAI_BASE_URL": "{base_url}", "OPENAI_API_KEY": "{api_key}"},
            {"prompt": "write hello.py", "model": "m", "api_key": "agentbench"}, command_env(home), worktree,
            Sandbox([worktree, home], [], jail=jail), server.url,
            ResolvedBudget(turns=turns, tokens=1_000_000, seconds=60), transcript, api_key="sk-real"), worktree
    finally:
        transcript.close()


@tiers
def test_a_hostile_agent_gets_no_more_than_its_budget_and_an_honest_one_works_after_it(tmp_path, jail, monkeypatch):
    left_behind: list[list[str]] = []
    remove_tree = safe_fs.remove_tree

    def note_then_remove(path: Path) -> None:  # what the socket's host directory held at the end
        left_behind.append(sorted(p.name for p in Path(path).iterdir()))
        remove_tree(path)

    monkeypatch.setattr(safe_fs, "remove_tree", note_then_remove)
    with upstream(delay=0.3) as server:
        agent, worktree = run_agent(tmp_path / "hostile", [sys.executable, str(HOSTILE), "probe"], jail, server)
        probes = {p["probe"]: p for p in map(json.loads, (worktree / "probes.jsonl").read_text().splitlines())}
        assert len(server.requests) <= 3 and server.routes.seen == [], server.routes.seen
    assert agent.result.stop_reason == "budget_turns" and agent.result.turns == len(server.requests)
    assert all(isinstance(s, int) and 400 <= s < 500 for s in probes["other"]["statuses"].values()), probes["other"]
    socket_probe = probes["socket"]
    if jail:
        # The socket is bound alone onto the jail's read-only root: nothing next to it to fill,
        # nothing to replace, and the host directory holding it out of reach.
        assert socket_probe["path"] == "/agentbench-proxy/proxy.sock"
        tampering = {k: v for k, v in socket_probe.items() if k not in ("probe", "path")}
        assert tampering and all(v.startswith("refused") for v in tampering.values()), tampering
        assert left_behind == [[]]  # the proxy removed its socket; the agent added nothing
    else:
        assert socket_probe["path"] is None and left_behind == []  # the none tier listens on loopback TCP

    with ScriptedServer([call("write_file", path="hello.py", content="print('hi')\n"), say("Done")]) as server:
        honest, worktree = run_agent(tmp_path / "honest", [sys.executable, str(HONEST), "{prompt}"], jail, server)
    assert (honest.exit_code, honest.result.stop_reason, honest.result.turns) == (0, "final", 2), honest.output
    assert (worktree / "hello.py").read_text() == "print('hi')\n"


REGISTRY = textwrap.dedent(f"""\
    [agents.hostile]
    command = [{json.dumps(sys.executable)}, {json.dumps(str(HOSTILE))}, "query"]
    env = {{ OPENAI_BASE_URL = "{{base_url}}", OPENAI_API_KEY = "{{api_key}}" }}
    """)


@pytest.mark.parametrize("tier", [
    pytest.param("bubblewrap", marks=pytest.mark.skipif(NO_BWRAP, reason="no bubblewrap")), "none"])
def test_an_agent_needing_more_turns_than_its_budget_with_a_query_string_does_not_get_them(bench, tier):
    (bench.pytester.path / "agentbench.toml").write_text(REGISTRY)
    bench.canary(run=[HELLO_CHECK])
    with ScriptedServer(lambda body: say("ok")) as server:
        bench.run(server, "--agentbench-agent", "hostile", "--agentbench-sandbox", tier, "--agentbench-max-turns", "3")
        requests = agent_requests(server)
    [attempt] = bench.report()["attempts"]
    assert (attempt["outcome"], attempt["turns"], attempt["limit_hit"]) == ("budget_turns", 3, "turn_budget")
    assert len(requests) == 3
