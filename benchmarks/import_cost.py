"""What the installed plugin costs a pytest run that collects no canary.

    python benchmarks/import_cost.py [--runs 9] [-- EXTRA PYTEST ARGS]

pytest autoloads every installed plugin, so an environment with pytest-agentbench pays for it in
every test run, benchmark or not. This times ``python -m pytest -q -p no:cacheprovider`` on a temp
directory holding one trivial test, with the plugin and with ``-p no:agentbench`` (interleaved, so
drift in the machine's load hits both alike), and prints both medians and their difference —
of wall time, and of CPU time (user + sys of the pytest process), which a busy machine disturbs
less. The budget: at most 50 ms.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_MS = 50.0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time_run(directory: Path, extra: list[str]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one pytest run."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra]
    cpu, started = _cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=directory, capture_output=True, text=True, check=False)
    elapsed, cpu = time.perf_counter() - started, _cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return elapsed * 1000, cpu * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="runs of each variant (at least 7)")
    parser.add_argument("extra", nargs="*", help="more pytest arguments, after --")
    args = parser.parse_args()
    runs = max(args.runs, 7)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "test_trivial.py").write_text("def test_trivial():\n    assert 1 + 1 == 2\n")
        env_note = os.environ.get("PYTEST_ADDOPTS", "")
        # One warm-up of each: the first run compiles bytecode (and pytest's rewritten modules).
        _time_run(directory, args.extra)
        _time_run(directory, ["-p", "no:agentbench", *args.extra])
        with_plugin, without = [], []
        for _ in range(runs):
            with_plugin.append(_time_run(directory, args.extra))
            without.append(_time_run(directory, ["-p", "no:agentbench", *args.extra]))
    print(f"python -m pytest -q -p no:cacheprovider {' '.join(args.extra)}".rstrip()
          + f"  (one trivial test, median of {runs} interleaved runs"
          + (f", PYTEST_ADDOPTS={env_note!r}" if env_note else "") + ")")
    print(f"{'':22}{'wall':>9}{'cpu':>9}")
    medians = []
    for label, samples in (("with the plugin:", with_plugin), ("-p no:agentbench:", without)):
        wall, cpu = (statistics.median(s[i] for s in samples) for i in (0, 1))
        medians.append((wall, cpu))
        print(f"{label:22}{wall:6.1f} ms{cpu:6.1f} ms")
    (wall_on, cpu_on), (wall_off, cpu_off) = medians
    print(f"{'difference:':22}{wall_on - wall_off:+6.1f} ms{cpu_on - cpu_off:+6.1f} ms"
          f"   (budget {BUDGET_MS:.0f} ms)")


if __name__ == "__main__":
    main()
