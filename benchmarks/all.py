"""Every performance figure in one run, each against its floor or reference measured
in the same run (the scripts below print the ratios; this runs them one after another).

    python benchmarks/all.py [--quick]

- loop_overhead.py: harness cost per agent turn vs a hand-written http.client loop, at 50 and 200
  turns (goal ≤ 1.2× at both);
- sandbox_overhead.py: one shell call per tier vs a bare ``sh -c``, in worktrees of 20 and 5,000
  files (goal: persistent jail ≤ 1.5× at both);
- verify_overhead.py: the clean verification tree and pooled trees vs the old in-tree check, and
  an attempt's tree set-up + tear-down (goal ≤ 15 ms small, ≤ 100 ms at 5,000 files);
- collection.py: 15,000 items vs plain pytest collecting 15,000 parametrized tests (goal ≤ 1.5 s);
- import_cost.py: what the installed plugin costs a run that collects no canary (goal ≤ 50 ms);
- proxy_overhead.py: what the external agents' recording proxy adds to a request (< 1 ms);
- run_throughput.py: attempts per minute serially and with 1/2/4/8 xdist workers against a
  batching scripted server, and that the outcomes do not change with the worker count;
- server_batching.py: the embedded model's decode throughput with 1-4 sequences at once vs one
  (llama.cpp's llama-batched-bench): the most `-n N` can gain on this machine's cores.

``--quick`` runs fewer rounds (a smoke test of the scripts, not figures to quote).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent

FULL = [
    ["loop_overhead.py", "--turns", "50", "--rounds", "5"],
    ["loop_overhead.py", "--turns", "200", "--rounds", "5"],
    ["sandbox_overhead.py", "--calls", "40", "--files", "20,5000"],
    ["verify_overhead.py", "--files", "20,5000", "--rounds", "5"],
    ["collection.py", "--canaries", "1000", "--models", "5", "--repeats", "3", "--rounds", "3"],
    ["import_cost.py", "--runs", "9"],
    ["proxy_overhead.py", "--requests", "300", "--rounds", "5"],
    ["run_throughput.py", "--canaries", "12", "--repeats", "2", "--workers", "1,2,4,8"],
    ["server_batching.py", "--parallel", "1,2,3,4"],
]
QUICK = [
    ["loop_overhead.py", "--turns", "30", "--rounds", "1"],
    ["sandbox_overhead.py", "--calls", "5", "--files", "20,5000"],
    ["verify_overhead.py", "--files", "20", "--rounds", "1"],
    ["collection.py", "--canaries", "50", "--models", "2", "--repeats", "3", "--rounds", "1"],
    ["import_cost.py", "--runs", "7"],
    ["proxy_overhead.py", "--requests", "50", "--rounds", "1"],
    ["run_throughput.py", "--canaries", "3", "--repeats", "1", "--workers", "2"],
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    cpus = len(__import__("os").sched_getaffinity(0))
    print(f"machine: {platform.platform()}, {cpus} CPUs, Python {platform.python_version()}")
    failed = 0
    for script, *options in QUICK if args.quick else FULL:
        print(f"\n== {script} {' '.join(options)}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(HERE / script), *options])
        print(f"   ({time.monotonic() - started:.0f} s{'' if code == 0 else f', exit {code}'})", flush=True)
        failed += code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
