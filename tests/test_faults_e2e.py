"""One fault vocabulary for every driver: what a model server's error says decides whose fault
it is, the same for the built-in loop and for an external agent behind the recording proxy.

A request that does not fit the context is the attempt's own ceiling (``budget_tokens``); out of
memory, a rate limit, an overloaded or failing server is the infrastructure's (``infra_error``),
even when the message names the context size or counts tokens.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_agentbench.attempt.faults import FaultKind, server_fault
from pytest_agentbench.testing import ScriptedServer, call, http_error

OOM = ("CUDA error: out of memory (ggml_cuda_pool_malloc: failed to allocate 512.00 MiB) "
       "while processing the prompt, n_ctx = 8192")
RATE = "Rate limit reached: too many tokens per minute (limit 20000, used 19876)"
OVERFLOW = "the request exceeds the available context size, try increasing it"


@pytest.mark.parametrize("status, text, kind", [
    (500, OOM, FaultKind.OUT_OF_MEMORY),
    (400, RATE, FaultKind.RATE_LIMITED),
    (429, "slow down", FaultKind.RATE_LIMITED),
    (503, "Loading model", FaultKind.OVERLOADED),
    (503, "", FaultKind.OVERLOADED),
    (400, OVERFLOW, FaultKind.CONTEXT_OVERFLOW),
    (500, "Context size has been exceeded.", FaultKind.CONTEXT_OVERFLOW),
    (200, '{"message": "maximum context length is 4096 tokens", "code": "context_length_exceeded"}',
     FaultKind.CONTEXT_OVERFLOW),
    (500, "internal error", FaultKind.SERVER_ERROR),
    (None, "connection refused", FaultKind.SERVER_ERROR),
    (401, "invalid api key", FaultKind.HTTP_ERROR),
    (200, "", None),
])
def test_a_server_error_reads_the_same_for_every_driver(status, text, kind):
    assert server_fault(status, text) is kind
    if kind is not None:
        assert kind.is_infrastructure == (kind is not FaultKind.CONTEXT_OVERFLOW)


CASES = {
    "oom": (http_error(500, OOM), "infra_error", "out_of_memory"),
    "rate": (http_error(400, RATE), "infra_error", "rate_limited"),
    "overflow": (http_error(400, OVERFLOW), "budget_tokens", None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_builtin_loop_attributes_server_errors(bench, case):
    reply, outcome, kind = CASES[case]
    bench.canary()
    first = [call("write_file", path="hello.py", content="x = 1\n")]
    script = lambda body: first[0] if sum(m["role"] == "assistant" for m in body["messages"]) == 0 else reply  # noqa: E731
    with ScriptedServer(script) as server:
        bench.run(server)
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == outcome, attempt["detail"]
    if outcome == "infra_error":
        assert kind in attempt["detail"]


AGENT = Path(__file__).parent / "agents" / "tiny_agent.py"
REGISTRY = textwrap.dedent(f"""\
    [agents.tiny]
    command = [{json.dumps(sys.executable)}, {json.dumps(str(AGENT))}, "{{prompt}}"]
    env = {{ OPENAI_BASE_URL = "{{base_url}}", OPENAI_API_KEY = "{{api_key}}", AGENT_MODEL = "{{model}}" }}
    """)


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_external_agent_behind_the_proxy_is_judged_alike(bench, case):
    """The agent program gives up after an error answer (exit 2): that followed a server fault,
    so the attempt is infra_error, not the phantom its empty tree would otherwise be; a request
    that does not fit the context ends it as the attempt's own ceiling."""
    reply, outcome, kind = CASES[case]
    (bench.pytester.path / "agentbench.toml").write_text(REGISTRY)
    bench.canary()
    with ScriptedServer([reply]) as server:
        bench.run(server, "--agentbench-agent", "tiny", "--agentbench-sandbox", "none")
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == outcome, attempt["detail"]
    if kind:
        assert kind in attempt["detail"]


def test_an_agent_that_exits_after_a_server_error_is_no_phantom(bench):
    (bench.pytester.path / "agentbench.toml").write_text(REGISTRY)
    bench.canary()
    with ScriptedServer([http_error(500, "internal error")]) as server:
        bench.run(server, "--agentbench-agent", "tiny", "--agentbench-sandbox", "none")
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "infra_error", attempt["detail"]
    assert "failed the agent's last 1 request(s) (server_error)" in attempt["detail"]
