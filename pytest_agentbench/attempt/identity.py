"""Which attempt: one frozen identity for every hook, record, ledger entry and report row.

An attempt is a canary × model (its variant and agent) × repeat; pytest knows it by its node id,
the database by its key. :class:`Attempt` is built once per item at collection (``run/collect.py``,
``run/pycanary.py``); the controller under ``-n``, which sees node ids only, rebuilds the same
value from them (``records/ledger.py``). It is also readable as a dict (``attempt["model"]``,
``**attempt``), which is how the hooks' ``attempt`` argument was first documented.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_agentbench.schemas.cells import BUILTIN_AGENT, cell_variant

if TYPE_CHECKING:
    from pytest_agentbench.schemas.canary import Canary
    from pytest_agentbench.schemas.models import ModelSpec

# (canary id, model name, cell variant, repeat): the database's key of an attempt. The agent is
# part of it, in the variant slot (``cell_variant``), so the key of a built-in attempt is unchanged.
AttemptKey = tuple[str, str, str, int]


def attempt_key(canary: str, model: str, variant: str, repeat: int, agent: str = BUILTIN_AGENT) -> AttemptKey:
    return (canary, model, cell_variant(variant, agent), repeat)


@dataclass(frozen=True)
class Attempt(Mapping[str, Any]):
    nodeid: str
    canary: str
    model: str
    variant: str = "base"
    agent: str = BUILTIN_AGENT
    repeat: int | None = None  # None: not known (an old record's node id without one)
    tier: str | None = None  # None: not known yet (an xdist controller learns it from a report)
    worktree: str | None = None  # where the attempt runs, once it does (the hooks' payload)

    @classmethod
    def of(cls, canary: Canary, model: ModelSpec, repeat: int, nodeid: str) -> Attempt:
        return cls(nodeid=nodeid, canary=canary.id, model=model.name, variant=model.variant,
                   agent=model.agent, repeat=repeat, tier=canary.tier)

    @property
    def key(self) -> AttemptKey:
        return attempt_key(self.canary, self.model, self.variant, self.repeat or 0, self.agent)

    def at(self, worktree: Path) -> Attempt:
        """The same attempt, running in ``worktree``."""
        return replace(self, worktree=str(worktree))

    def with_tier(self, tier: str) -> Attempt:
        return replace(self, tier=tier)

    # Read as a dict: the fields by name (``attempt["canary"]``, ``dict(attempt)``, ``**attempt``).
    def __getitem__(self, name: str) -> Any:
        if name not in _FIELDS:
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(_FIELDS)

    def __len__(self) -> int:
        return len(_FIELDS)


_FIELDS = tuple(f.name for f in fields(Attempt))
