"""Wall time of a whole benchmark run: N generated canaries × 2 scripted models × R repeats.

    python benchmarks/suite_run.py [--canaries 30] [--repeats 1] [-n 2]

The models are ScriptedServer scripts (a real loopback HTTP server): "solver" writes the right
file and finishes, "talker" claims success without changing anything (a phantom). Every attempt
still gets a real git worktree, a real agent loop and a real verification command, so the time
measured is the harness's own cost per attempt. Prints the numbers and checks the JSON report.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from pytest_agentbench.testing import ScriptedServer, call, say


def make_suite(root: Path, count: int) -> None:
    for index in range(count):
        directory = root / "canaries" / f"c{index:03d}"
        (directory / "repo").mkdir(parents=True)
        (directory / "repo" / "README.md").write_text(f"# canary {index}\n")
        (directory / "canary.toml").write_text(
            f'tier = "{("lite", "medium", "heavy")[index % 3]}"\n'
            f'prompt = "Create value.py defining VALUE = {index}."\n'
            "[verify]\n"
            f"run = [\"python -c 'import value, sys; sys.exit(value.VALUE != {index})'\"]\n"
            'expect_changed = ["value.py"]\n'
        )


def solver(request: dict) -> dict:
    turn = sum(1 for m in request["messages"] if m["role"] == "assistant")
    if turn:
        return say("Done.")
    number = request["messages"][1]["content"].split("VALUE = ")[1].rstrip(".")
    return call("write_file", path="value.py", content=f"VALUE = {number}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canaries", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("-n", dest="workers", default=None, help="pytest-xdist workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ScriptedServer(
        {"solver": solver, "talker": [say("I created value.py as asked.")]}
    ) as server:
        root = Path(tmp)
        make_suite(root, args.canaries)
        command = [sys.executable, "-m", "pytest", "canaries", "-q", "-p", "no:cacheprovider",
                   "--models", f"solver@{server.url},talker@{server.url}",
                   "--repeats", str(args.repeats), "--agentbench-json", "report.json"]
        if args.workers:
            command += ["-n", args.workers]
        started = time.perf_counter()
        proc = subprocess.run(command, check=False, cwd=root, capture_output=True, text=True)
        wall = time.perf_counter() - started
        report = json.loads((root / "report.json").read_text())
    attempts = report["attempts"]
    outcomes = Counter((a["model"], a["outcome"]) for a in attempts)
    harness = sorted(a["harness_seconds"] for a in attempts)
    expected = args.canaries * 2 * args.repeats
    print(f"canaries={args.canaries} models=2 repeats={args.repeats} workers={args.workers or 0}")
    print(f"attempts={len(attempts)} (expected {expected}) pytest exit={proc.returncode}")
    print(f"outcomes={dict(sorted(outcomes.items()))}")
    print(f"wall_seconds={wall:.2f} per_attempt_ms={1000 * wall / max(len(attempts), 1):.1f}")
    print(f"harness_seconds per attempt: median={harness[len(harness) // 2]:.3f} max={harness[-1]:.3f}")
    missing = [k for a in attempts for k in ("canary", "tier", "model", "variant", "repeat", "outcome",
               "detail", "turns", "prompt_tokens", "completion_tokens", "wall_seconds", "tool_calls",
               "malformed_tool_calls", "files_changed", "claimed_done") if k not in a]
    print(f"contract fields missing from attempts: {len(missing)}")
    ok = len(attempts) == expected and not missing and outcomes[("solver", "passed")] == expected // 2
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
