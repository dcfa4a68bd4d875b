"""The endpoint pool's slot accounting (flock'd lock files shared by the processes of a run) and
the registry's ``endpoints`` entry, unit by unit; tests/test_endpoint_pool_e2e.py runs it for real."""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from pytest_agentbench.schemas.models import ModelConfigError, load_registry, resolve_models
from pytest_agentbench.servers.endpoint_pool import (
    Endpoint,
    EndpointPool,
    PoolExhausted,
    connect_problem,
)

A, B, C = "http://a:8080/v1", "http://b:8080/v1", "http://c:8080/v1"


def pool(tmp_path: Path, *endpoints: Endpoint) -> EndpointPool:
    return EndpointPool(tmp_path / "endpoints", list(endpoints), poll=0.01, max_poll=0.02)


def test_a_slot_is_held_until_released_and_slot_counts_are_respected(tmp_path):
    first, second = pool(tmp_path, Endpoint(A, 2)), pool(tmp_path, Endpoint(A, 2))  # two "processes"
    one, two = first.try_acquire(), second.try_acquire()
    assert one is not None and two is not None and {one.slot, two.slot} == {0, 1}
    assert first.try_acquire() is None and second.try_acquire() is None  # both slots held
    one.release()
    one.release()  # idempotent
    three = second.try_acquire()
    assert three is not None and three.slot == one.slot
    assert first.try_acquire() is None


def test_two_models_listing_one_url_share_its_slots_and_its_death(tmp_path):
    qwen, llama = pool(tmp_path, Endpoint(A, 2)), pool(tmp_path, Endpoint(A, 1), Endpoint(B, 1))
    held = qwen.try_acquire()
    assert held.slot == 0
    assert llama.try_acquire().url == B  # A's only slot for llama is the one qwen holds
    qwen.mark_dead(A, "gone")
    assert llama.dead() == {A: "gone"}


def test_the_least_loaded_endpoint_is_chosen_by_its_share_of_free_slots(tmp_path):
    workers = [pool(tmp_path, Endpoint(A, 3), Endpoint(B, 1)) for _ in range(4)]
    leases = [w.try_acquire() for w in workers]
    # A (3 slots) and B (1) both idle: a tie, A first; then B is all free, A 2/3: B; then A, A.
    assert [lease.url for lease in leases] == [A, B, A, A]
    assert workers[0].try_acquire() is None
    leases[1].release()
    assert workers[0].try_acquire().url == B


def test_ties_rotate_so_a_serial_run_alternates_endpoints(tmp_path):
    serial = pool(tmp_path, Endpoint(A), Endpoint(B), Endpoint(C))
    seen = []
    for _ in range(6):
        lease = serial.try_acquire()
        seen.append(lease.url)
        lease.release()
    assert seen == [A, B, C, A, B, C]


def test_a_dead_endpoint_is_skipped_by_every_process_and_the_first_reason_stays(tmp_path):
    one, other = pool(tmp_path, Endpoint(A), Endpoint(B)), pool(tmp_path, Endpoint(A), Endpoint(B))
    one.mark_dead(A, "connection refused")
    other.mark_dead(A, "a later reason")
    assert other.dead() == {A: "connection refused"}
    for _ in range(3):
        lease = other.try_acquire()
        assert lease.url == B
        lease.release()
    one.mark_dead(B, "gone too")
    with pytest.raises(PoolExhausted, match=r"every endpoint is out of the pool: .*a:8080.*connection "
                                            r"refused; .*b:8080.*gone too"):
        other.acquire()


def test_acquire_waits_for_a_slot_to_be_released(tmp_path):
    holder, waiter = pool(tmp_path, Endpoint(A)), pool(tmp_path, Endpoint(A))
    held = holder.acquire()
    threading.Timer(0.3, held.release).start()
    lease = waiter.acquire(timeout=10)
    assert lease.url == A and lease.waited >= 0.25


def test_acquire_gives_up_after_its_timeout(tmp_path):
    holder, waiter = pool(tmp_path, Endpoint(A)), pool(tmp_path, Endpoint(A))
    held = holder.acquire()
    with pytest.raises(TimeoutError):
        waiter.acquire(timeout=0.1)
    held.release()


def test_a_slot_an_endpoint_dies_on_while_waiting_is_not_waited_for(tmp_path):
    holder, waiter = pool(tmp_path, Endpoint(A)), pool(tmp_path, Endpoint(A))
    held = holder.acquire()
    threading.Timer(0.2, holder.mark_dead, (A, "died")).start()
    with pytest.raises(PoolExhausted, match="died"):
        waiter.acquire(timeout=10)
    held.release()


def test_an_endpoint_the_check_rejects_is_marked_dead_and_another_is_chosen(tmp_path):
    checked = []

    def check(url: str) -> str | None:
        checked.append(url)
        return "cannot connect" if url == A else None

    pooled = pool(tmp_path, Endpoint(A), Endpoint(B))
    assert pooled.acquire(check=check).url == B
    assert checked == [A, B] and pooled.dead() == {A: "cannot connect"}


def test_a_killed_holder_frees_its_slot(tmp_path):
    """The kernel drops a dead process's flock: a crashed worker never strands a slot."""
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from pytest_agentbench.servers.endpoint_pool import Endpoint, EndpointPool
        lease = EndpointPool(Path({str(tmp_path / 'endpoints')!r}), [Endpoint({A!r})]).acquire()
        print("held", flush=True)
        time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        waiter = pool(tmp_path, Endpoint(A))
        assert waiter.try_acquire() is None  # held by the other process
        child.kill()
        child.wait(timeout=10)
        assert waiter.acquire(timeout=10).url == A
    finally:
        child.kill()
        child.wait(timeout=10)


def test_connect_problem_tells_a_listener_from_a_closed_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert connect_problem(f"http://127.0.0.1:{port}/v1") is None
    problem = connect_problem(f"http://127.0.0.1:{port}/v1", timeout=1)
    assert problem is not None and f"127.0.0.1:{port}" in problem and "Refused" in problem


# -- the registry -----------------------------------------------------------------------------------

def registry(tmp_path: Path, body: str) -> dict:
    (tmp_path / "agentbench.toml").write_text(textwrap.dedent(body))
    return load_registry(tmp_path)


def test_the_registry_reads_a_pool_with_slots_and_bare_urls(tmp_path):
    spec = registry(tmp_path, f"""
        [models.fleet]
        endpoints = [{{url = "{A}/", slots = 2}}, "{B}"]
    """)["fleet"]
    assert [(e.url, e.slots) for e in spec.endpoints] == [(A, 2), (B, 1)]
    assert spec.base_url == A  # what one-URL report lines show: the first endpoint
    assert spec.describe()["endpoints"] == [{"url": A, "slots": 2}, {"url": B, "slots": 1}]
    resolved = resolve_models(["fleet"], "http://127.0.0.1:11434/v1", {"fleet": spec})[0]
    assert len(resolved.endpoints) == 2
    inline = resolve_models(["fleet@http://127.0.0.1:9/v1"], "http://127.0.0.1:11434/v1", {"fleet": spec})[0]
    assert inline.endpoints == [] and inline.base_url == "http://127.0.0.1:9/v1"  # one endpoint: NAME@URL's


@pytest.mark.parametrize(("body", "message"), [
    (f'endpoints = [{{url = "{A}", slots = 0}}]', "key 'endpoints.0.slots': Input should be greater than 0"),
    ('endpoints = ["ftp://x"]', "key 'endpoints.0.url': 'ftp://x' is not an http(s) URL"),
    (f'endpoints = [{{url = "{A}", slot = 2}}]', "key 'endpoints.0.slot': unknown key"),
    (f'endpoints = ["{A}", "{A}/"]', f"endpoints: '{A}' is listed twice"),
    ("endpoints = []", "key 'endpoints': the pool is empty"),
    (f'base_url = "{A}"\nendpoints = ["{B}"]', "keys 'base_url' and 'endpoints': give one endpoint or a pool"),
    (f'endpoints = ["{A}"]\n[models.fleet.server]\ngguf = "x.gguf"',
     "endpoints and server cannot be combined"),
])
def test_a_malformed_pool_names_file_model_and_field(tmp_path, body, message):
    with pytest.raises(ModelConfigError) as caught:
        registry(tmp_path, f"[models.fleet]\n{body}\n")
    text = str(caught.value)
    assert text.startswith(f"{tmp_path / 'agentbench.toml'}: [models.fleet]: ") and message in text, text


def test_a_pool_survives_a_sweep_variant(tmp_path):
    from pytest_agentbench.run.variants import Variant

    spec = registry(tmp_path, f'[models.fleet]\nendpoints = ["{A}", "{B}"]\n')["fleet"]
    variant = Variant("temperature=0.7", {"temperature": 0.7}).apply(spec)
    assert [e.url for e in variant.endpoints] == [A, B] and variant.base_url == A


def test_many_processes_never_oversubscribe_a_slot(tmp_path):
    """Four processes hammer a pool of 2 + 1 slots; each records when it held which slot: no two
    holds of one slot overlap, and no endpoint ever had more holders than slots."""
    code = textwrap.dedent(f"""
        import json, sys, time
        from pathlib import Path
        from pytest_agentbench.servers.endpoint_pool import Endpoint, EndpointPool
        pool = EndpointPool(Path({str(tmp_path / 'endpoints')!r}), [Endpoint({A!r}, 2), Endpoint({B!r}, 1)],
                            poll=0.005, max_poll=0.01)
        for _ in range(15):
            lease = pool.acquire(timeout=60)
            start = time.time(); time.sleep(0.01); end = time.time()
            print(json.dumps([lease.url, lease.slot, start, end]), flush=True)
            lease.release()
    """)
    children = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
                for _ in range(4)]
    holds = []
    for child in children:
        out, _ = child.communicate(timeout=120)
        assert child.returncode == 0
        holds += [json.loads(line) for line in out.splitlines()]
    assert len(holds) == 60
    for url, slots in ((A, 2), (B, 1)):
        mine = [h for h in holds if h[0] == url]
        assert mine, f"{url} never served"
        for _, _, start, _ in mine:  # holders at each moment one began
            assert sum(h[2] <= start < h[3] for h in mine) <= slots
        for slot in range(slots):
            spans = sorted((h[2], h[3]) for h in mine if h[1] == slot)
            assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert {h[1] for h in holds if h[0] == B} == {0}


# -- the session's side: preflight of the pool, leases, faults ---------------------------------------

def pooled_session(tmp_path: Path, *endpoints: dict):
    from pytest_agentbench.run.session import AgentbenchSession, Settings
    from pytest_agentbench.schemas.models import ModelSpec

    spec = ModelSpec.model_validate({"name": "fleet", "model": "fleet", "endpoints": list(endpoints)})
    settings = Settings(models=[spec], repeats=1, tiers=[], data_dir=tmp_path / ".agentbench")
    return AgentbenchSession(settings, run_id="run"), spec


def test_the_session_leases_one_replica_at_a_time_and_names_it(tmp_path):
    from pytest_agentbench.testing import ScriptedServer

    llama = {"/props": {"build_info": "b1", "total_slots": 1, "default_generation_settings": {"n_ctx": 4096}}}
    with ScriptedServer([], routes=llama) as a, ScriptedServer([]) as b:
        session, spec = pooled_session(tmp_path, {"url": a.url, "slots": 2}, {"url": b.url})
        whole = session.preflight(spec)  # no slot held: the pool (what the header shows)
        assert whole.kind == "llama.cpp" and whole.base_url == a.url and not whole.problems
        assert any(f"the pool gives {a.url} 2 slots, the server runs 1" in w for w in whole.warnings)
        assert [e["url"] for e in session.server_info["fleet"]["pool"]] == [a.url, b.url]
        assert session.server_info["fleet"]["pool"][0]["server_slots"] == 1
        first = session.lease_endpoint(spec)
        assert session.endpoint_of(spec) == first == session.preflight(spec).base_url
        assert session.client_for(spec).url == f"{first}/chat/completions"
        second = session.lease_endpoint(spec)  # a stale lease is given back first
        assert {first, second} == {a.url, b.url}
        session.release_endpoint()
        assert session.endpoint_of(spec) == a.url and session.lease_wait() == 0.0
        session.close()


def test_a_fault_on_a_replica_that_still_listens_keeps_it_in_the_pool(tmp_path):
    from pytest_agentbench.testing import ScriptedServer

    with ScriptedServer([]) as a:
        session, spec = pooled_session(tmp_path, {"url": a.url})
        session.lease_endpoint(spec)
        assert session.explain_fault(spec, "model server fault: HTTP 503") == "model server fault: HTTP 503"
        assert session.pool_of(spec).dead() == {}
        a._httpd.shutdown()
        a._httpd.server_close()
        detail = session.explain_fault(spec, "model server fault: cannot reach")
        assert f"endpoint {a.url} is gone" in detail and "taken out of the pool" in detail
        assert session.pool_of(spec).dead()[a.url].startswith("died during an attempt: cannot connect")
        with pytest.raises(PoolExhausted, match="model 'fleet': every endpoint is out of the pool"):
            session.lease_endpoint(spec)
        session.close()
