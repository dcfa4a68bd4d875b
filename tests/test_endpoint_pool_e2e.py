"""Endpoint pools end to end: one registry model served by several real loopback
servers, serially and under ``-n 2``. Attempts spread over the replicas, a replica never serves
more conversations at once than its slots, a replica that dies costs only the attempt running on
it, and a pool with no replica left is an infra error — never a model failure."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from pytest_agentbench.servers.preflight import PROBE_TOOL
from pytest_agentbench.servers.speed_probe import is_probe
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE

GOOD = [call("write_file", path="hello.py", content=HELLO_SOURCE), say("Done.")]
MODES = [pytest.param([], id="serial"), pytest.param(["-n", "2"], id="n2")]


class Replica:
    """A ScriptedServer playing one replica of a model: it records when it served each
    conversation (told apart by prompt and seed) and can die mid-conversation."""

    def __init__(self, delay: float = 0.0, die_in_conversation: int | None = None) -> None:
        self.delay = delay
        self.die_in_conversation = die_in_conversation  # dies at turn 1 of its Nth conversation
        self.spans: dict[tuple[str, Any], list[float]] = {}  # conversation -> [first, last] seen
        self.dead = False
        self.on_conversation: Any = None  # called with the count when a conversation begins
        self._lock = threading.Lock()
        self.server = ScriptedServer(self._reply)

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> Replica:  # noqa: PYI034 (typing.Self needs 3.11)
        self.server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.stop()

    def kill(self) -> None:
        """Stop listening (reconnects are refused) and drop every request still coming in."""
        self.dead = True
        self.server._httpd.shutdown()
        self.server._httpd.server_close()

    def _reply(self, body: dict) -> dict:
        if self.dead:
            return {"close": True}
        tools = [t.get("function", {}).get("name") for t in body.get("tools", [])]
        if is_probe(body) or PROBE_TOOL["function"]["name"] in tools:
            return say("pong")  # preflight's probes are no conversation
        prompt = next(m["content"] for m in body["messages"] if m["role"] == "user")
        key = (prompt, body.get("seed"))
        turn = sum(m["role"] == "assistant" for m in body["messages"])
        started = time.monotonic()
        with self._lock:
            if key not in self.spans and self.on_conversation is not None:
                self.on_conversation(len(self.spans) + 1)
            self.spans.setdefault(key, [started, started])
            if turn == 1 and len(self.spans) == self.die_in_conversation:
                self.kill()
                return {"close": True}
        time.sleep(self.delay)
        with self._lock:
            self.spans[key][1] = time.monotonic()
        return GOOD[turn] if turn < len(GOOD) else say("Done.")

    def seeds(self) -> set[Any]:
        return {seed for _, seed in self.spans}

    def most_at_once(self) -> int:
        """The most conversations this replica was in at one moment."""
        spans = list(self.spans.values())
        return max((sum(a <= start <= b for a, b in spans) for start, _ in spans), default=0)


def fleet(bench, *endpoints: str, repeats: int, args: list[str]) -> pytest.RunResult:
    bench.canary()
    bench.pytester.makepyprojecttoml(f"[tool.agentbench.models.fleet]\nendpoints = [{', '.join(endpoints)}]\n")
    return bench.pytester.runpytest(
        "canaries", "--models", "fleet", "--repeats", str(repeats), "--agentbench-json", "report.json",
        "--agentbench-retry-backoff", "0.01", "-p", "no:cacheprovider", "-v", *args)


def slot(replica: Replica, slots: int = 1) -> str:
    return json.dumps({"url": replica.url, "slots": slots}).replace('":', '" =')


def by_seed(report: dict) -> dict[int, dict]:
    return {a["repeat"]: a for a in report["attempts"]}


@pytest.mark.parametrize("mode", MODES)
def test_attempts_spread_over_the_pool_within_each_replicas_slots(bench, mode):
    with Replica(delay=0.15) as a, Replica(delay=0.15) as b:
        result = fleet(bench, slot(a), slot(b), repeats=4, args=mode)
    report = bench.report()
    attempts = report["attempts"]
    assert [x["outcome"] for x in attempts] == ["passed"] * 4, [x["detail"] for x in attempts]
    assert a.spans and b.spans  # both replicas served conversations
    assert len(a.spans) + len(b.spans) == 4 and not a.seeds() & b.seeds()
    assert a.most_at_once() == 1 and b.most_at_once() == 1  # one slot each
    for attempt in attempts:  # each attempt names the replica that served it
        served_by = a if attempt["repeat"] in a.seeds() else b
        assert attempt["server"]["base_url"] == served_by.url
    model = report["models"]["fleet"]
    assert model["endpoints"] == [{"url": a.url, "slots": 1}, {"url": b.url, "slots": 1}]
    if not mode:  # the header's preflight of the whole pool, in this process
        assert [e["url"] for e in model["server"]["pool"]] == [a.url, b.url]
        assert not any(e["left_out"] for e in model["server"]["pool"])
        assert (len(a.spans), len(b.spans)) == (2, 2)  # a serial run alternates
    assert result.ret == 0


def test_one_slot_means_one_conversation_at_a_time_across_workers(bench):
    """Two workers, one replica with one slot: without shared slot accounting both workers would
    talk to it at once; with it, one waits."""
    with Replica(delay=0.2) as only:
        fleet(bench, slot(only), repeats=4, args=["-n", "2"])
    attempts = bench.report()["attempts"]
    assert [x["outcome"] for x in attempts] == ["passed"] * 4, [x["detail"] for x in attempts]
    assert len(only.spans) == 4 and only.most_at_once() == 1


def test_two_slots_let_two_workers_share_one_replica(bench):
    with Replica(delay=0.4) as only:
        fleet(bench, slot(only, 2), repeats=4, args=["-n", "2"])
    attempts = bench.report()["attempts"]
    assert [x["outcome"] for x in attempts] == ["passed"] * 4, [x["detail"] for x in attempts]
    assert only.most_at_once() == 2


@pytest.mark.parametrize("mode", MODES)
def test_a_replica_that_dies_costs_only_its_running_attempt(bench, mode):
    with Replica(die_in_conversation=2) as a, Replica() as b:
        result = fleet(bench, slot(a), slot(b), repeats=6, args=mode)
    attempts = bench.report()["attempts"]
    assert len(attempts) == 6
    lost = [x for x in attempts if x["outcome"] != "passed"]
    assert len(lost) == 1, [(x["outcome"], x["detail"]) for x in attempts]
    dead = lost[0]
    assert dead["outcome"] == "infra_error" and dead["server"]["base_url"] == a.url
    assert "model server fault" in dead["detail"]
    assert f"endpoint {a.url} is gone" in dead["detail"] and "taken out of the pool" in dead["detail"]
    assert len(a.spans) == 2  # nothing went to it after it died
    assert all(x["server"]["base_url"] == b.url for x in attempts if x["repeat"] in b.seeds())
    assert len(b.spans) == 4
    assert result.ret == 1  # an infra error is a gap, never a pass


def test_a_replica_that_dies_while_idle_costs_no_attempt(bench):
    """Serially the replicas alternate: A dies while B serves the second attempt, and the third,
    A's turn, finds it gone before starting (a connect check) and runs on B."""
    with Replica() as a, Replica() as b:
        b.on_conversation = lambda count: a.kill() if count == 1 else None
        fleet(bench, slot(a), slot(b), repeats=4, args=[])
    attempts = bench.report()["attempts"]
    assert [x["outcome"] for x in attempts] == ["passed"] * 4, [x["detail"] for x in attempts]
    assert len(a.spans) == 1 and len(b.spans) == 3


@pytest.mark.parametrize("mode", MODES)
def test_a_pool_with_no_live_replica_is_an_infra_error(bench, mode):
    a, b = ScriptedServer([]), ScriptedServer([])
    for gone in (a, b):
        gone._httpd.server_close()  # nothing listens there any more
    result = fleet(bench, json.dumps(a.url), json.dumps(b.url), repeats=2, args=mode)
    if not mode:
        problem = (f"*PROBLEM: no endpoint of the pool is left: endpoint {a.url} is left out of the "
                   "pool: failed preflight: cannot reach*")
        result.stdout.fnmatch_lines([problem])
    attempts = bench.report()["attempts"]
    assert attempts and all(x["outcome"] == "infra_error" for x in attempts)
    assert all("model 'fleet': every endpoint is out of the pool" in x["detail"] for x in attempts)
    assert all(a.url in x["detail"] and b.url in x["detail"] for x in attempts)
    assert result.ret != 0


def test_replicas_dying_one_after_the_other_end_in_infra_errors(bench):
    with Replica(die_in_conversation=1) as a, Replica(die_in_conversation=1) as b:
        fleet(bench, slot(a), slot(b), repeats=4, args=[])
    attempts = bench.report()["attempts"]
    assert [x["outcome"] for x in attempts] == ["infra_error"] * 3  # the third stops the session
    assert [x["server"]["base_url"] for x in attempts[:2]] == [a.url, b.url]
    assert "every endpoint is out of the pool" in attempts[2]["detail"]
    assert "died during an attempt" in attempts[2]["detail"]


def test_a_replica_failing_preflight_is_left_out_loudly_and_the_run_goes_on(bench):
    gone = ScriptedServer([])
    gone._httpd.server_close()
    with Replica() as a:
        result = fleet(bench, json.dumps(gone.url), slot(a), repeats=3, args=[])
    header = f"*warning: endpoint {gone.url} is left out of the pool: failed preflight: cannot reach*"
    summary = f"WARNING fleet: endpoint {gone.url} is left out of the pool*"
    result.stdout.fnmatch_lines([header, summary])
    report = bench.report()
    assert [x["outcome"] for x in report["attempts"]] == ["passed"] * 3
    assert {x["server"]["base_url"] for x in report["attempts"]} == {a.url}
    pool = {e["url"]: e for e in report["models"]["fleet"]["server"]["pool"]}
    assert pool[gone.url]["left_out"].startswith("failed preflight") and pool[a.url]["left_out"] is None
    assert result.ret == 0


def test_a_python_canary_holds_its_slot_for_the_whole_test(bench):
    """The ``agent`` fixture leases at set-up and gives the slot back at teardown."""
    root = bench.pytester.path / "canaries"
    (root / "hello_repo").mkdir(parents=True)
    (root / "hello_repo" / "README.md").write_text("# demo\n")
    (root / "test_hello_canary.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.canary(tier='lite', repo='hello_repo')\n"
        "def test_hello(agent):\n"
        "    run = agent.run('Create hello.py.')\n"
        "    assert 'hello.py' in run.files_changed, run.detail\n")
    with Replica(delay=0.2) as only:
        bench.pytester.makepyprojecttoml(f"[tool.agentbench.models.fleet]\nendpoints = [{slot(only)}]\n")
        result = bench.pytester.runpytest("canaries", "--models", "fleet", "--repeats", "4", "-n", "2",
                                          "--agentbench-json", "report.json", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    assert len(only.spans) == 4 and only.most_at_once() == 1
    assert {a["server"]["base_url"] for a in bench.report()["attempts"]} == {only.url}
