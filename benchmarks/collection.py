"""Collection time of a big suite against plain pytest's, measured in the same run.

    python benchmarks/collection.py [--canaries 1000] [--models 5] [--repeats 3] [--rounds 3]

Makes ``canaries`` canary directories (each a canary.toml and a one-file repo/) and times
``pytest --collect-only -q`` over them with ``models`` × ``repeats`` items per canary; the
reference is plain pytest collecting the same number of items as parametrized trivial tests
(``canaries`` files, ``models × repeats`` parameters each). Prints medians and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_agentbench.testing import ScriptedServer, say


def make_suite(root: Path, canaries: int, params: int) -> None:
    for index in range(canaries):
        directory = root / "suite" / "canaries" / f"c{index:04d}"
        (directory / "repo").mkdir(parents=True)
        (directory / "repo" / "README.md").write_text(f"# {index}\n")
        (directory / "canary.toml").write_text(
            f'tier = "{("lite", "medium", "heavy")[index % 3]}"\ntags = ["python"]\n'
            f'prompt = "Create value.py with VALUE = {index}."\n'
            '[verify]\nrun = ["python -c pass"]\nexpect_changed = ["value.py"]\n')
        reference = root / "reference" / f"test_c{index:04d}.py"
        reference.parent.mkdir(parents=True, exist_ok=True)
        reference.write_text(f"import pytest\n\n@pytest.mark.parametrize('p', range({params}))\n"
                             "def test_x(p):\n    pass\n")


def collect_seconds(cwd: Path, args: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           *args], check=False, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    return seconds, proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canaries", type=int, default=1000)
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    items = args.canaries * args.models * args.repeats
    with tempfile.TemporaryDirectory() as tmp, ScriptedServer([say("x")]) as server:
        root = Path(tmp)
        make_suite(root, args.canaries, args.models * args.repeats)
        models = ",".join(f"m{i}@{server.url}" for i in range(args.models))
        ours, plain = [], []
        for _ in range(args.rounds):  # interleaved
            seconds, last = collect_seconds(root / "suite", ["canaries", "--models", models,
                                                             "--repeats", str(args.repeats)])
            ours.append(seconds)
            seconds, plain_last = collect_seconds(root / "reference", ["-p", "no:agentbench"])
            plain.append(seconds)
    print(f"items={items} ({args.canaries} canaries x {args.models} models x {args.repeats} repeats)")
    print(f"agentbench: {statistics.median(ours):.2f} s ({last})")
    print(f"plain pytest, parametrized: {statistics.median(plain):.2f} s ({plain_last})")
    print(f"ratio={statistics.median(ours) / statistics.median(plain):.2f} "
          f"per_item_us={1e6 * statistics.median(ours) / items:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
