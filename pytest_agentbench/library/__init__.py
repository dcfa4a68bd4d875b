"""Canary library tooling behind the ``agentbench`` command: new, validate, import, mine.

Each module here that offers a subcommand exposes ``add_subcommand(subparsers)``, which adds its
argparse parser and sets ``func`` to a callable taking the parsed namespace and returning the exit
status. ``cli.py`` registers every module named in ``COMMAND_MODULES``.
"""

from __future__ import annotations

COMMAND_MODULES: tuple[str, ...] = ("new", "validate", "exercism", "mine")
