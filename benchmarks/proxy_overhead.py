"""What the recording proxy adds to one chat request, against the same request sent
straight to the same loopback ScriptedServer in the same run.

    python benchmarks/proxy_overhead.py [--requests 300] [--rounds 5]

Each round sends ``requests`` requests (a 20-message conversation, a tool-call reply) with one
keep-alive http.client connection, alternately direct and through a TCP RecordingProxy (which
parses, records and forwards each one with httpx). Prints medians per request and the difference
(the aim: under 1 ms on loopback).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import time
import urllib.parse

from pytest_agentbench.external.proxy import RecordingProxy
from pytest_agentbench.schemas.canary import ResolvedBudget
from pytest_agentbench.testing import ScriptedServer, call

BODY = json.dumps({
    "model": "m",
    "messages": [{"role": "system", "content": "You are a coding agent."}]
    + [{"role": "user" if i % 2 else "assistant", "content": f"message {i} " * 20} for i in range(19)],
    "tools": [{"type": "function", "function": {"name": "read_file", "parameters": {
        "type": "object", "properties": {"path": {"type": "string"}}}}}],
}).encode()


def per_request(url: str, requests: int) -> float:
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port)
    path = parsed.path.rstrip("/") + "/chat/completions"
    started = time.perf_counter()
    for _ in range(requests):
        connection.request("POST", path, BODY, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status
    connection.close()
    return (time.perf_counter() - started) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    budget = ResolvedBudget(turns=10**9, tokens=10**15, seconds=3600)
    direct, proxied = [], []
    with ScriptedServer(lambda body: call("read_file", path="a.py")) as server:
        with RecordingProxy(server.url, budget) as proxy:
            for _ in range(args.rounds):
                direct.append(per_request(server.url, args.requests))
                proxied.append(per_request(proxy.url, args.requests))
        recorded = proxy.record.result.turns  # after close: a reply is recorded once it is sent
    d, p = 1000 * statistics.median(direct), 1000 * statistics.median(proxied)
    print(f"{args.requests} requests x {args.rounds} rounds, medians per request:")
    print(f"  direct to the server   {d:6.3f} ms")
    print(f"  through the proxy      {p:6.3f} ms   ({p / d:.2f}x)")
    print(f"  added by the proxy     {p - d:6.3f} ms   (aim: under 1 ms); {recorded} turns recorded")


if __name__ == "__main__":
    main()
