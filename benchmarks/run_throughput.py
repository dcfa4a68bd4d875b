"""Attempts per minute against a batching model server: the same attempts serially and with
pytest-xdist workers, and whether parallelism changed any outcome.

    python benchmarks/run_throughput.py [--canaries 12] [--repeats 2] [--workers 1,2,4,8]
                                        [--token-ms 4] [--exponent 0.5] [--tokens 40] [--embedded]

The server is the loopback ScriptedServer imitating a batching server (``Batching``): every reply
of ``--tokens`` completion tokens takes ``token-ms × n ** exponent`` a token while ``n`` requests are
in flight, so the server's throughput grows sub-linearly with concurrency. Two scripted models:
"solver" reads the README, writes ``value.py`` and finishes (three replies; the value is wrong on
every fourth canary, so some attempts fail), "talker" claims success without a change (a
phantom). Every run gets the same canaries, models, repeats and budgets; the runs differ only in
``-n``. Per run: wall time (pytest start-up included), attempts per minute, the server's busy
fraction (time with a request in flight / wall time), the speed-up over the serial run, and the
outcome counts side by side; the script exits 1 when an attempt's outcome differs between runs.

``--embedded`` also runs ``--embedded-canaries`` canaries on the embedded model (``--models
embedded``: the plugin starts llama-server itself), serially and with 2 workers; slow (seconds a
reply on CPU), so off by default.
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

from pytest_agentbench.testing import Batching, ScriptedServer, call, say

WRONG_EVERY = 4


def make_suite(root: Path, count: int) -> None:
    for index in range(count):
        directory = root / "canaries" / f"c{index:03d}"
        (directory / "repo").mkdir(parents=True)
        (directory / "repo" / "README.md").write_text(f"# canary {index}\n\nVALUE must be {index}.\n")
        (directory / "canary.toml").write_text(
            'tier = "lite"\n'
            f'prompt = "Create value.py defining VALUE = {index}."\n'
            "[verify]\n"
            f"run = [\"python -c 'import value, sys; sys.exit(value.VALUE != {index})'\"]\n"
            'expect_changed = ["value.py"]\n'
        )


def scripts(tokens: int) -> dict:
    usage = {"prompt_tokens": 100, "completion_tokens": tokens, "total_tokens": 100 + tokens}

    def solver(request: dict) -> dict:
        turn = sum(1 for m in request["messages"] if m["role"] == "assistant")
        number = int(request["messages"][1]["content"].split("VALUE = ")[1].rstrip("."))
        if turn == 0:
            return {**call("read_file", path="README.md"), "usage": usage}
        if turn == 1:
            value = number + 1 if number % WRONG_EVERY == WRONG_EVERY - 1 else number
            return {**call("write_file", path="value.py", content=f"VALUE = {value}\n"), "usage": usage}
        return say("Done.", usage=usage)

    return {"solver": solver, "talker": lambda request: say("I created value.py as asked.", usage=usage)}


def run(root: Path, models: str, repeats: int, workers: int | None, report: str) -> tuple[float, list[dict], int]:
    command = [sys.executable, "-m", "pytest", "canaries", "-q", "-p", "no:cacheprovider",
               "--models", models, "--repeats", str(repeats), "--agentbench-json", report]
    if workers is not None:
        command += ["-n", str(workers)]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    path = root / report
    if not path.exists():
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
        raise SystemExit(f"no report from {' '.join(command[3:])}")
    return wall, json.loads(path.read_text())["attempts"], proc.returncode


def compare(root: Path, models: str, repeats: int, runs: list[int | None],
            server: ScriptedServer | None) -> bool:
    """Run the suite once per entry of ``runs`` (None: no xdist); print the table; True when
    every attempt's outcome was the same in every run."""
    results: dict[str, tuple[float, float | None, list[dict]]] = {}
    for workers in runs:
        name = "serial" if workers is None else f"-n {workers}"
        busy_before = server.busy_seconds if server is not None else 0.0
        wall, attempts, code = run(root, models, repeats, workers, f"report-{workers or 0}.json")
        busy = (server.busy_seconds - busy_before) / wall if server is not None else None
        results[name] = (wall, busy, attempts)
        print(f"  {name:<8} done in {wall:.1f} s (pytest exit {code})", flush=True)
    serial_wall = results["serial"][0] if "serial" in results else next(iter(results.values()))[0]
    print(f"\n  {'run':<8} {'wall s':>7} {'attempts':>8} {'per min':>8} {'busy':>6} {'speed-up':>8}")
    for name, (wall, busy, attempts) in results.items():
        shown = f"{100 * busy:5.0f}%" if busy is not None else "     -"
        print(f"  {name:<8} {wall:7.1f} {len(attempts):8d} {60 * len(attempts) / wall:8.1f} {shown} "
              f"{serial_wall / wall:7.2f}x")
    counts = {name: Counter((a["model"], a["outcome"]) for a in attempts) for name, (_, _, attempts) in results.items()}
    rows = sorted(set().union(*counts.values()))
    print(f"\n  {'model / outcome':<26}" + "".join(f"{name:>9}" for name in results))
    for row in rows:
        print(f"  {row[0] + ' / ' + row[1]:<26}" + "".join(f"{counts[name][row]:>9}" for name in results))
    by_attempt = {name: {(a["canary"], a["model"], a["repeat"]): a["outcome"] for a in attempts}
                  for name, (_, _, attempts) in results.items()}
    reference = next(iter(by_attempt.values()))
    same = all(outcomes == reference for outcomes in by_attempt.values())
    print(f"\n  every attempt's outcome the same in every run: {'yes' if same else 'NO'}")
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canaries", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", default="1,2,4,8", help="xdist worker counts, comma-separated")
    parser.add_argument("--token-ms", type=float, default=4.0, help="milliseconds a token, alone")
    parser.add_argument("--exponent", type=float, default=0.5)
    parser.add_argument("--tokens", type=int, default=40, help="completion tokens a reply")
    parser.add_argument("--embedded", action="store_true", help="also run on the embedded model (slow)")
    parser.add_argument("--embedded-canaries", type=int, default=2)
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    batching = Batching(token_seconds=args.token_ms / 1000, exponent=args.exponent)
    ok = True
    with tempfile.TemporaryDirectory() as tmp, ScriptedServer(scripts(args.tokens), batching=batching) as server:
        root = Path(tmp)
        make_suite(root, args.canaries)
        print(f"{args.canaries} canaries x 2 models x {args.repeats} repeats; server: {args.tokens} tokens a "
              f"reply at {args.token_ms:g} ms x n^{args.exponent:g} a token")
        ok = compare(root, f"solver@{server.url},talker@{server.url}", args.repeats, [None, *counts], server)
        print(f"  server: at most {server.max_in_flight} requests in flight")
    if args.embedded:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            make_suite(root, args.embedded_canaries)
            print(f"\nembedded model: {args.embedded_canaries} canaries x 1 repeat")
            ok = compare(root, "embedded", 1, [None, 2], None) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
