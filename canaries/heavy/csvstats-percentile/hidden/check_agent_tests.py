"""Checks the agent's own percentile tests in tests/test_core.py (csvstats-percentile canary).

1. tests/test_core.py keeps its four original tests and has >= 3 tests named test_percentile*;
2. those tests pass against the agent's implementation;
3. each broken implementation (min, max, nearest rank) makes at least one of them fail.
Exit status 0 when all hold; the reason is printed otherwise.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ORIGINAL = ["test_mean", "test_median_odd_and_even", "test_empty", "test_read_column"]
MUTANTS = ("min", "max", "nearest_rank")

PLUGIN = '''
import os

import csvstats.core


def _min(values, p):
    return min(values)


def _max(values, p):
    return max(values)


def _nearest_rank(values, p):
    return float(sorted(values)[round((len(values) - 1) * p / 100)])


MUTANTS = {"min": _min, "max": _max, "nearest_rank": _nearest_rank}


def pytest_configure(config):
    csvstats.core.percentile = MUTANTS[os.environ["CSVSTATS_MUTANT"]]
'''


def pytest(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def main() -> int:
    collected = pytest(["--collect-only", "-q", "tests/test_core.py"])
    if collected.returncode != 0:
        print("tests/test_core.py cannot be collected:\n" + collected.stdout[-2000:])
        return 1
    names = re.findall(r"^tests/test_core\.py::([A-Za-z0-9_]+)", collected.stdout, re.MULTILINE)
    missing = [name for name in ORIGINAL if name not in names]
    if missing:
        print(f"original tests missing from tests/test_core.py: {missing}")
        return 1
    own = sorted({name for name in names if name.startswith("test_percentile")})
    if len(own) < 3:
        print(f"need at least 3 test functions named test_percentile*, found {own}")
        return 1
    selection = ["-q", "tests/test_core.py", "-k", "test_percentile"]
    good = pytest(selection)
    if good.returncode != 0:
        print("the test_percentile* tests fail against the real implementation:\n" + good.stdout[-2000:])
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "csvstats_mutant_plugin.py").write_text(PLUGIN)
        for mutant in MUTANTS:
            env = dict(os.environ)
            env["CSVSTATS_MUTANT"] = mutant
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [tmp, env.get("PYTHONPATH")]))
            result = pytest([*selection, "-p", "csvstats_mutant_plugin"], env=env)
            if result.returncode == 0:
                print(f"the test_percentile* tests did not catch the broken '{mutant}' percentile")
                return 1
            print(f"mutant {mutant}: caught (pytest exit {result.returncode})")
    print(f"ok: {len(own)} test_percentile* functions, all mutants caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
