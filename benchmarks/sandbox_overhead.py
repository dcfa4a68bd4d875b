"""Cost of one shell call in each isolation tier: `true` and a `python -c pass`.

    python benchmarks/sandbox_overhead.py [--calls 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pytest_agentbench.sandbox import Sandbox, bubblewrap_problem, command_env, run_command


def measure(command: str, root: Path, sandbox: Sandbox | None, calls: int) -> float:
    env = command_env(root / "home")
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        result = run_command(command, root / "wt", 30, env, sandbox=sandbox)
        times.append(time.perf_counter() - started)
        assert result.exit_code == 0, result.output
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "wt").mkdir()
        (root / "home").mkdir()
        tiers: dict[str, Sandbox | None] = {"process": None}
        problem = bubblewrap_problem()
        if problem:
            print(f"bubblewrap unavailable: {problem}")
        else:
            tiers["bubblewrap"] = Sandbox(writable=[root / "wt", root / "home"], readonly=[])
        for name, sandbox in tiers.items():
            for command in ("true", "python -c pass"):
                print(f"{name:<11} {command:<16} median {measure(command, root, sandbox, args.calls):6.1f} ms "
                      f"({args.calls} calls)")


if __name__ == "__main__":
    main()
