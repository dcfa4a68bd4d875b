"""``agentbench new NAME``: a canary to start from, complete enough that ``agentbench validate``
accepts it — a starting repository with a stub (``repo/``), hidden tests the agent never sees
(``hidden/``) and the reference solution (``solution/``), each a file to replace with your own.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from pytest_agentbench.schemas.canary import TIERS

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

CANARY_TOML = '''\
# A new canary. Replace the task below, the starting repository (repo/), the hidden checks
# (hidden/: the agent never sees them) and the reference solution (solution/: what a right answer
# leaves). `agentbench validate {where}` proves the canary fails untouched and passes with
# solution/. The format: docs/canaries.md.
id = "{name}"
tier = "{tier}"
tags = ["python"]
prompt = """
`calc.py` has a stub `add(a, b)`. Implement it: return the sum of `a` and `b`.
Do not change any other file.
"""

[verify]
# Run in a clean copy of repo/ + the agent's change + hidden/; a pytest check passes on its
# report's evidence (every test passed), not on an exit code alone.
run = ["python -m pytest -q test_calc_hidden.py"]
# The change must touch this file; changes elsewhere never reach the checks.
expect_changed = ["calc.py"]
'''

FILES = {
    "repo/calc.py": 'def add(a, b):\n    raise NotImplementedError("add")\n',
    "hidden/test_calc_hidden.py": (
        "from calc import add\n\n\n"
        "def test_adds_integers():\n    assert add(2, 3) == 5\n\n\n"
        "def test_adds_negative_numbers():\n    assert add(-2, -3) == -5\n\n\n"
        "def test_adds_floats():\n    assert add(0.5, 0.25) == 0.75\n"),
    "solution/calc.py": "def add(a, b):\n    return a + b\n",
}


def scaffold(directory: Path, name: str, tier: str) -> list[Path]:
    """Write the canary ``name`` into ``directory`` (which must not exist); the files written."""
    if not _NAME.match(name):
        raise ValueError(f"{name!r}: a canary name is lower-case letters, digits, '.', '_' and '-'")
    if tier not in TIERS:
        raise ValueError(f"--tier {tier!r}: choose {', '.join(TIERS)}")
    if directory.exists():
        raise ValueError(f"{directory} already exists: choose another name or --dir")
    written = []
    for relative, text in {"canary.toml": CANARY_TOML.format(name=name, tier=tier, where=directory),
                           **FILES}.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def cmd_new(args: argparse.Namespace) -> int:
    directory = (args.dir / args.name) if args.dir else Path("canaries") / args.tier / args.name
    try:
        written = scaffold(directory, args.name, args.tier)
    except ValueError as exc:
        print(f"agentbench: error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(f"next: edit them, then `agentbench validate {directory}`")
    return 0


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("new", help="write a canary to start from (repo/, hidden/, "
                                                "solution/) that validate accepts")
    parser.add_argument("name", metavar="NAME", help="the canary's id and directory name")
    parser.add_argument("--tier", choices=TIERS, default="lite", help="its tier (default lite)")
    parser.add_argument("--dir", type=Path, metavar="DIR",
                        help="the directory it goes in (default canaries/TIER)")
    parser.set_defaults(func=cmd_new)
