"""Harness cost per agent turn, without verification, against a hand-written floor loop measured
in the same run against the same loopback ScriptedServer.

    python benchmarks/loop_overhead.py [--turns 200] [--rounds 5]

Both loops, per turn: POST the conversation to the server, parse the reply, run the file tool it
asks for (``read_file`` of a 100-line file in a real git worktree), append the result, write one
transcript line. The floor is what a careful person writes by hand: ``http.client`` on one
keep-alive connection, ``json.dumps`` of the whole body, ``json.loads``, ``open().read()``, one
``json.dumps`` line to a file. The rounds alternate the two loops, so load from elsewhere on the
machine spreads over both. "in flight" is the time from sending the request to having its last
byte (the server's time, on the same server for both); "harness" is the rest.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import tempfile
import time
import urllib.parse
from pathlib import Path

from pytest_agentbench.agent.loop import AgentLoop
from pytest_agentbench.agent.tools import ToolContext
from pytest_agentbench.run.session import JsonlTranscript
from pytest_agentbench.sandbox.commands import command_env
from pytest_agentbench.schemas.canary import ResolvedBudget
from pytest_agentbench.servers.client import ChatClient, ClientSettings
from pytest_agentbench.testing import ScriptedServer, call
from pytest_agentbench.trees.workspace import TreeManager

TOOL = {"type": "function", "function": {"name": "read_file", "description": "Read a file.",
                                         "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}


def ours(url: str, worktree: Path, transcript_path: Path, turns: int) -> tuple[float, float]:
    """(wall, in flight) seconds per turn of the plugin's AgentLoop."""
    client = ChatClient(ClientSettings(base_url=url, model="m"))
    transcript = JsonlTranscript(transcript_path)
    loop = AgentLoop(client, ToolContext(worktree, command_env(worktree.parent)),
                     ResolvedBudget(turns=turns, tokens=10**12, seconds=600), transcript=transcript)
    result = loop.run("read a.py forever")
    transcript.close()
    client.close()
    assert result.turns == turns and result.stop_reason == "budget_turns", result.detail
    return result.wall_seconds / turns, result.model_seconds / turns


def floor(url: str, worktree: Path, transcript_path: Path, turns: int) -> tuple[float, float]:
    """(wall, in flight) seconds per turn of the hand-written floor loop."""
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port)
    path = parsed.path.rstrip("/") + "/chat/completions"
    messages = [{"role": "system", "content": "You are a coding agent."},
                {"role": "user", "content": "read a.py forever"}]
    in_flight = 0.0
    started = time.perf_counter()
    with transcript_path.open("w") as transcript:
        for turn in range(turns):
            body = json.dumps({"model": "m", "messages": messages, "tools": [TOOL]}).encode()
            sent = time.perf_counter()
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            raw = connection.getresponse().read()
            in_flight += time.perf_counter() - sent
            message = json.loads(raw)["choices"][0]["message"]
            messages.append(message)
            for tool_call in message.get("tool_calls") or []:
                arguments = json.loads(tool_call["function"]["arguments"])
                output = (worktree / arguments["path"]).read_text()
                messages.append({"role": "tool", "tool_call_id": tool_call.get("id"), "content": output})
            transcript.write(json.dumps({"turn": turn, "message": message}) + "\n")
            transcript.flush()
    connection.close()
    return (time.perf_counter() - started) / turns, in_flight / turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ScriptedServer(lambda r: call("read_file", path="a.py")) as server:
        root = Path(tmp)
        source = root / "src"
        source.mkdir()
        for index in range(20):
            (source / f"m{index}.py").write_text(f"X = {index}\n" * 50)
        (source / "a.py").write_text("A = 1\n" * 100)
        manager = TreeManager(root / "work")
        started = time.perf_counter()
        baseline = manager.baseline(source, "bench")
        worktree = manager.create_worktree(baseline, "w")
        setup = time.perf_counter() - started
        samples: dict[str, list[tuple[float, float]]] = {"agentbench": [], "floor": []}
        for _ in range(args.rounds):
            samples["agentbench"].append(ours(server.url, worktree, root / "t.jsonl", args.turns))
            samples["floor"].append(floor(server.url, worktree, root / "f.jsonl", args.turns))
        started = time.perf_counter()
        manager.remove_worktree(baseline, worktree)
        teardown = time.perf_counter() - started
    figures = {}
    for name, values in samples.items():
        wall = 1000 * statistics.median(v[0] for v in values)
        flight = 1000 * statistics.median(v[1] for v in values)
        figures[name] = (wall, flight, wall - flight)
    print(f"{args.turns} turns x {args.rounds} rounds, medians per turn (ms):")
    for name, (wall, flight, harness) in figures.items():
        print(f"  {name:<11} wall {wall:6.2f}   in flight {flight:6.2f}   harness {harness:6.2f}")
    (wall, _, harness), (floor_wall, _, floor_harness) = figures["agentbench"], figures["floor"]
    print(f"ratio to the floor: wall {wall / floor_wall:.2f}x   harness {harness / floor_harness:.2f}x "
          "(goal: harness <= 1.2x)")
    print(f"worktree: baseline+add {1000 * setup:.1f} ms, remove {1000 * teardown:.1f} ms")


if __name__ == "__main__":
    main()
