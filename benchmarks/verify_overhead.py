"""What the un-gameable verdict costs per attempt, against a floor measured in the same run.

    python benchmarks/verify_overhead.py [--files 20,1000,5000] [--rounds 7] [--check CMD]

For repositories of several sizes, one attempt's verification is timed two ways, interleaved:

- floor: the old design — the check runs in the agent's own worktree (same sandbox tier);
- clean tree: the harness reads the agent's tree, checks out a fresh verification tree, copies the
  change and the hidden file in, runs the check there, removes the tree;
- pooled: the same with the verification tree taken from the pool and reset afterwards (the
  bubblewrap tier's default).

Also an attempt's tree set-up + tear-down: a fresh checkout and removal vs a pooled reset.

The check is ``true`` by default, so what is measured is the harness, not the test runner;
``--check "python -m pytest -q test_hidden.py"`` measures a pytest check as the harness configures
it (the floor then runs the same pytest in the agent's tree, where the hidden test is missing). Then the jail:
one ``true`` in bubblewrap with the host's root bound read-only (the old root) vs the allow-list
root. Prints medians in ms and the added cost (clean tree minus floor; allow-list minus host root).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pytest_agentbench.attempt.verify import CheckSetup, run_verification
from pytest_agentbench.sandbox.commands import Sandbox, bubblewrap_problem, command_env, run_command
from pytest_agentbench.sandbox.commands import commands as sandbox_module
from pytest_agentbench.schemas.canary import Canary
from pytest_agentbench.trees.workspace import TreeManager

CHECK = "true"


def make_canary(root: Path, files: int) -> Canary:
    repo = root / "canary" / "repo"
    for index in range(files):
        path = repo / f"pkg{index % 50}" / f"mod{index}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"VALUE = {index}\n" * 20)
    hidden = root / "canary" / "hidden"
    hidden.mkdir(parents=True)
    (hidden / "test_hidden.py").write_text("def test_x():\n    pass\n")
    toml = root / "canary" / "canary.toml"
    toml.write_text(f'tier = "lite"\nprompt = "x"\n[verify]\nrun = ["{CHECK}"]\nexpect_changed = ["pkg0/*"]\n')
    canary = Canary.model_validate({"tier": "lite", "prompt": "x", "id": "bench",
                                    "verify": {"run": [CHECK], "expect_changed": ["pkg0/*"]}})
    canary.path = toml
    return canary


def time_ms(fn, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def bench_size(files: int, rounds: int, jail: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        canary = make_canary(root, files)
        manager = TreeManager(root / "work")
        baseline = manager.baseline(canary.repo_dir, canary.id)
        tree = manager.create_worktree(baseline, "agent")
        (tree / "pkg0" / "mod0.py").write_text("VALUE = 'changed'\n")
        home = root / "home"
        home.mkdir()
        env = command_env(home)
        box = Sandbox(writable=[tree, home], readonly=[tree / ".git", baseline.path / ".git"], jail=jail)
        setup = CheckSetup(manager, baseline, jail=jail)
        pooled = CheckSetup(manager, baseline, jail=jail, reuse=True)
        _ = baseline.manifest  # read once per canary per process, as in a run

        def floor() -> None:
            assert run_command(CHECK, tree, 60, env, sandbox=box).exit_code is not None

        def clean() -> None:
            verification = run_verification(canary, tree, setup, "agent")
            assert verification.checks_passed and verification.qualifying_change

        def clean_pooled() -> None:
            verification = run_verification(canary, tree, pooled, "agent")
            assert verification.checks_passed and verification.qualifying_change

        def fresh_tree() -> None:  # an attempt's set-up and tear-down without the pool
            manager.remove_worktree(baseline, manager.create_worktree(baseline, "fresh"))

        def pooled_tree() -> None:  # ... and with it (reset: clean, reset --hard, special files)
            used = manager.acquire(baseline)
            (used / "pkg0" / "mod0.py").write_text("dirty\n")
            manager.release(baseline, used, reuse=True)

        clean_pooled()  # fill the pool
        pooled_tree()
        times: dict[str, list[float]] = {k: [] for k in ("floor", "clean", "pooled", "fresh", "reuse")}
        for _ in range(rounds):  # interleaved, so drift hits all alike
            for key, fn in (("floor", floor), ("clean", clean), ("pooled", clean_pooled),
                            ("fresh", fresh_tree), ("reuse", pooled_tree)):
                times[key].append(time_ms(fn, 1))
        return {key: statistics.median(values) for key, values in times.items()}


def bench_jail(rounds: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp}
        box = Sandbox(writable=[work], readonly=[])
        allow_list = sandbox_module.system_root

        def host_root() -> None:
            sandbox_module.system_root = lambda: ("--ro-bind", "/", "/")
            try:
                assert run_command("true", work, 60, env, sandbox=box).ok
            finally:
                sandbox_module.system_root = allow_list

        def allow_root() -> None:
            assert run_command("true", work, 60, env, sandbox=box).ok

        host, allow = [], []
        for _ in range(rounds):
            host.append(time_ms(host_root, 1))
            allow.append(time_ms(allow_root, 1))
        return statistics.median(host), statistics.median(allow)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="20,1000,5000")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--check", default="true", help="the check command (default: true)")
    args = parser.parse_args()
    global CHECK
    CHECK = args.check
    jail = not bubblewrap_problem()
    tier = "bubblewrap" if jail else "none"
    print(f"tier={tier} rounds={args.rounds} (medians, ms per attempt; check = `{CHECK}`)")
    for files in (int(n) for n in args.files.split(",")):
        t = bench_size(files, args.rounds, jail)
        print(f"files={files:5d} floor(check in agent tree)={t['floor']:7.1f} clean-tree verification="
              f"{t['clean']:7.1f} (added {t['clean'] - t['floor']:+7.1f}) pooled={t['pooled']:7.1f} "
              f"(added {t['pooled'] - t['floor']:+7.1f}, ratio {t['pooled'] / t['floor']:4.2f})")
        print(f"            tree set-up+tear-down: fresh checkout={t['fresh']:7.1f} pooled reset="
              f"{t['reuse']:7.1f} ({t['fresh'] / t['reuse']:4.1f}x less)")
    if jail:
        host, allow = bench_jail(args.rounds * 3)
        print(f"jail: host root={host:.1f} allow-list root={allow:.1f} added={allow - host:+.1f} per command")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
