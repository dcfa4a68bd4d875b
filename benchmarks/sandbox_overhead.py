"""Cost of one shell call in each isolation tier, without and with the resource limits:
`true` and a `python -c pass`, each as a ratio to the floor: a bare, unjailed
``subprocess.run(["/bin/sh", "-c", command], capture_output=True)`` measured in the same run.

    python benchmarks/sandbox_overhead.py [--calls 50] [--files 20,5000]

"persistent" is the agent's shell since one jail per attempt, each command forked by a
runner inside it (jail.py); the others start one jail (or none) per command, as verification
checks still do. The configurations take turns call by call, so that load from elsewhere on the machine spreads
over all of them alike. "limits" means the defaults: prlimit before /bin/sh, a pids cgroup per
command when running as root (where RLIMIT_NPROC does not apply) and one can be made, and the
worktree-growth accounting after each command (inotify events; a walk of every file before).
``--files`` sizes the worktree (files in directories of 100): the growth accounting's cost was
the one that grew with it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from pytest_agentbench.sandbox.commands import Sandbox, bubblewrap_problem, command_env, run_command
from pytest_agentbench.sandbox.limits import SandboxLimits, pids_cgroup_base, prlimit_path

FLOOR = "floor: bare sh -c"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--files", default="20,5000", help="worktree sizes, comma-separated")
    args = parser.parse_args()
    print(f"prlimit: {prlimit_path()}; pids cgroup: {pids_cgroup_base() or 'none (not root, or not writable)'}")
    problem = bubblewrap_problem()
    if problem:
        print(f"bubblewrap unavailable: {problem}")
    for files in (int(n) for n in args.files.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            measure(Path(tmp), files, args.calls, problem is None)


def measure(root: Path, files: int, calls: int, bubblewrap: bool) -> None:
    worktree = root / "wt"
    for index in range(files):
        directory = worktree / f"d{index // 100}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"f{index}.py").write_text(f"X = {index}\n")
    (root / "home").mkdir()
    env = command_env(root / "home")
    writable = [worktree, root / "home"]
    configs = {f"none, {'limits' if on else 'no limits'}":
               Sandbox(writable, [], limits=SandboxLimits() if on else SandboxLimits.off(), jail=False)
               for on in (False, True)}
    if bubblewrap:
        for on in (False, True):
            configs[f"bubblewrap, {'limits' if on else 'no limits'}"] = Sandbox(
                writable, [], limits=SandboxLimits() if on else SandboxLimits.off())
        configs["bubblewrap persistent, limits"] = Sandbox(writable, [], persistent=True)
    for command in ("true", "python -c pass"):
        times: dict[str, list[float]] = {FLOOR: [], **{name: [] for name in configs}}
        for _ in range(calls):
            started = time.perf_counter()
            subprocess.run(["/bin/sh", "-c", command], cwd=worktree, env=env, capture_output=True, check=True)
            times[FLOOR].append(1000 * (time.perf_counter() - started))
            for name, sandbox in configs.items():
                started = time.perf_counter()
                result = run_command(command, worktree, 30, env, sandbox=sandbox)
                times[name].append(1000 * (time.perf_counter() - started))
                assert result.exit_code == 0, result.output
        floor = statistics.median(times[FLOOR])
        for name, values in times.items():
            values.sort()
            median = statistics.median(values)
            print(f"{files:>5} files  {name:<30} {command:<16} median {median:6.1f} ms  {median / floor:5.2f}x floor   "
                  f"p90 {values[int(0.9 * (len(values) - 1))]:6.1f} ms   ({calls} calls)")
    for sandbox in configs.values():
        sandbox.close()


if __name__ == "__main__":
    main()
