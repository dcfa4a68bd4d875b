"""How much a llama.cpp server gains from decoding several sequences at once, on this machine:
the ceiling of what ``pytest -n N`` can gain against the embedded model.

    python benchmarks/server_batching.py [--parallel 1,2,3,4] [--threads 1] [--prompt 512]
                                         [--generate 128] [--gguf PATH]

Runs llama.cpp's own ``llama-batched-bench`` (installed beside ``llama-server`` by the embedded
extra) on the embedded model (or ``--gguf``): ``--prompt`` tokens of prompt and ``--generate``
tokens of output for 1, 2, … sequences decoded together, as the server's slots decode concurrent
requests. Prints, per sequence count, the prompt and decode throughput summed over the
sequences, and the ratio of each to one sequence's — measured in the same run. A ratio near N
means the machine is memory-bound and N workers finish N× sooner; a ratio near 1 means it is
compute-bound and workers only take turns on the same cores (then run the benchmark serially).
An agent's turn is one prompt (mostly cached) and one reply, so the decode ratio is the one that
bounds a whole run's speed-up.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from pytest_agentbench.servers.llama_server import find_embedded_gguf, find_llama_server
from pytest_agentbench.servers.managed import ServerStartError

ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|"
                 r"\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|")


def measure(bench: Path, gguf: Path, parallel: list[int], threads: int, prompt: int,
            generate: int) -> dict[int, tuple[float, float]]:
    """Sequence count -> (prompt tokens/s, decode tokens/s), each summed over the sequences."""
    context = max(parallel) * (prompt + generate) + 64
    command = [str(bench), "-m", str(gguf), "-t", str(threads), "-c", str(context), "-b", "2048",
               "-ub", "512", "-npp", str(prompt), "-ntg", str(generate),
               "-npl", ",".join(map(str, parallel))]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    rows = {}
    for line in done.stdout.splitlines():
        match = ROW.match(line)
        if match:
            # | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | ...
            rows[int(match[3])] = (float(match[6]), float(match[8]))
    if not rows:
        sys.exit(f"llama-batched-bench printed no results (exit {done.returncode}):\n"
                 f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parallel", default="1,2,3,4", help="sequence counts (one sequence, the reference, is always measured)")
    parser.add_argument("--threads", type=int, default=1,
                        help="decode threads (the managed server uses one core less than the machine has)")
    parser.add_argument("--prompt", type=int, default=512)
    parser.add_argument("--generate", type=int, default=128)
    parser.add_argument("--gguf", type=Path, help="another model file (default: the embedded model)")
    args = parser.parse_args()
    parallel = sorted({int(n) for n in args.parallel.split(",")} | {1})
    try:
        bench = find_llama_server().with_name("llama-batched-bench")
        gguf = args.gguf or find_embedded_gguf()
    except ServerStartError as exc:
        print(f"skipped: the embedded extra is not installed ({exc})")
        return
    if not bench.is_file():
        print(f"skipped: {bench} not found (this llama.cpp install has no llama-batched-bench)")
        return
    rows = measure(bench, gguf, parallel, args.threads, args.prompt, args.generate)
    base_prompt, base_decode = rows[1]
    print(f"{gguf.name}, {args.threads} thread(s), {args.prompt} prompt + {args.generate} generated "
          "tokens per sequence")
    print(f"{'sequences':>9}  {'prompt t/s':>10}  {'ratio':>5}  {'decode t/s':>10}  {'ratio':>5}")
    for count in parallel:
        prompt_rate, decode_rate = rows[count]
        print(f"{count:>9}  {prompt_rate:>10.1f}  {prompt_rate / base_prompt:>5.2f}  "
              f"{decode_rate:>10.1f}  {decode_rate / base_decode:>5.2f}")


if __name__ == "__main__":
    main()
