"""How an attempt's variant and agent share one slot of its identity (the database key, the resume
key, a summary cell). Standard library only: the entry point's collection imports it."""

from __future__ import annotations

BUILTIN_AGENT = "builtin"
AGENT_SEPARATOR = " via "


def cell_variant(variant: str, agent: str = BUILTIN_AGENT) -> str:
    """The variant slot of an attempt's identity (database key, resume key, summary cell): the
    variant itself for the built-in loop — rows of runs without --agentbench-agent stay as they
    were — else ``"<variant> via <agent>"``, so two agents never share a cell."""
    return variant if agent == BUILTIN_AGENT else f"{variant}{AGENT_SEPARATOR}{agent}"


def split_cell_variant(cell: str) -> tuple[str, str]:
    """``cell_variant``'s inverse: (variant, agent)."""
    variant, _, agent = cell.partition(AGENT_SEPARATOR)
    return variant, agent or BUILTIN_AGENT
