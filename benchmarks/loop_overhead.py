"""Harness cost per agent turn, without verification: POST to a loopback ScriptedServer,
parse, run a file tool in a real git worktree, write one transcript line.

    python benchmarks/loop_overhead.py [--turns 200]

DESIGN §7 puts the floor for a plugin-shaped loop at ~1.25 ms/turn on these machines
(mini-swe-agent 14–23 ms, inspect-ai 19–29 ms).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pytest_agentbench.agent.loop import AgentLoop
from pytest_agentbench.agent.tools import ToolContext
from pytest_agentbench.canary import ResolvedBudget
from pytest_agentbench.client import ChatClient, ClientSettings
from pytest_agentbench.sandbox import command_env
from pytest_agentbench.session import JsonlTranscript
from pytest_agentbench.testing import ScriptedServer, call
from pytest_agentbench.workspace import TreeManager


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
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
        client = ChatClient(ClientSettings(base_url=server.url, model="m"))
        transcript = JsonlTranscript(root / "t.jsonl")
        loop = AgentLoop(client, ToolContext(worktree, command_env(root), lambda: 60.0),
                         ResolvedBudget(turns=args.turns, tokens=10**12, seconds=600), transcript=transcript)
        result = loop.run("read a.py forever")
        transcript.close()
        started = time.perf_counter()
        manager.remove_worktree(baseline, worktree)
        teardown = time.perf_counter() - started
    per_turn = 1000 * result.wall_seconds / result.turns
    model = 1000 * result.model_seconds / result.turns
    print(f"turns={result.turns} stop={result.stop_reason}")
    print(f"per_turn_ms={per_turn:.2f} (request incl. server {model:.2f} ms, harness {per_turn - model:.2f} ms)")
    print(f"worktree: baseline+add {1000 * setup:.1f} ms, remove {1000 * teardown:.1f} ms")


if __name__ == "__main__":
    main()
