"""The controller's ledger: which attempts were collected, which came back with a result, and how
this run compares with the run it resumes.

Every collected attempt must end with a recorded outcome. An item whose ``runtest``
crashed before producing an :class:`AttemptResult`, a worker that died, or an attempt that never
ran would otherwise simply be absent from the denominators — and a gate would pass on the
attempts it happened to see. The ledger makes such attempts visible: the JSON report marks the
run ``incomplete`` and lists them, and every gate fails naming them.

Without xdist the controller collects the items itself; with xdist it only sees the workers'
collected node ids, which it parses (the model part of ``canary[MODEL-rN]`` must be one of this
run's models, so ordinary tests never count).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from pytest_agentbench.attempt.identity import Attempt
from pytest_agentbench.run.gates import MissingAttempt
from pytest_agentbench.schemas.canary import TIERS
from pytest_agentbench.schemas.models import ModelSpec

_ATTEMPT_NODEID = re.compile(r"^(?P<path>[^:]+)::(?P<name>.+?)\[(?P<fragment>.+)-r(?P<repeat>\d+)\]$")


def model_label(name: str, variant: str, agent: str = "builtin") -> str:
    """How a model × variant (× agent) is named in plans and summaries: ``qwen``,
    ``qwen/temperature=0``, ``qwen via mini``. ``variant`` may be a cell variant (schemas/results.py)."""
    variant, _, in_cell = variant.partition(" via ")
    agent = in_cell or agent
    label = name if variant == "base" else f"{name}/{variant}"
    return label if agent == "builtin" else f"{label} via {agent}"


def parse_attempt_nodeid(nodeid: str, models: list[ModelSpec]) -> Attempt | None:
    """An attempt from a node id alone (what an xdist controller gets); None for other tests.
    The canary id of a Python canary with its own ``id=`` cannot be told from the id: the default
    (``module.function``) stands in."""
    found = _ATTEMPT_NODEID.match(nodeid)
    if not found:
        return None
    by_fragment = {model.id_fragment: model for model in models}
    model = by_fragment.get(found["fragment"])
    if model is None:
        return None
    path, name = PurePosixPath(found["path"]), found["name"]
    canary = name if path.name == "canary.toml" else f"{path.stem}.{name.split('::')[-1]}"
    return Attempt(nodeid=nodeid, canary=canary, model=model.name, variant=model.variant,
                   agent=model.agent, repeat=int(found["repeat"]))


@dataclass
class Ledger:
    expected: dict[str, Attempt] = field(default_factory=dict)
    received: set[str] = field(default_factory=set)  # node ids whose report carried a result
    reported: set[str] = field(default_factory=set)  # node ids with any report at all

    def expect(self, attempt: Attempt) -> None:
        self.expected.setdefault(attempt.nodeid, attempt)

    def saw_report(self, nodeid: str, has_result: bool, keywords: Any = ()) -> None:
        self.reported.add(nodeid)
        if has_result:
            self.received.add(nodeid)
        attempt = self.expected.get(nodeid)
        if attempt is not None and attempt.tier is None:
            # Under xdist the tier is not in the node id; the item's tier marker is a keyword.
            tier = next((word for word in keywords if word in TIERS), None)
            if tier is not None:
                self.expected[nodeid] = attempt.with_tier(tier)

    def missing(self) -> list[MissingAttempt]:
        """Collected attempts without a result, in node-id order."""
        return [MissingAttempt(nodeid, attempt.model, attempt.tier)
                for nodeid, attempt in sorted(self.expected.items()) if nodeid not in self.received]

    def never_ran(self) -> list[str]:
        return [m.nodeid for m in self.missing() if m.nodeid not in self.reported]

    def plan(self) -> dict[str, list[str]]:
        """What this run set out to run: canary ids and model labels."""
        return {"canaries": sorted({a.canary for a in self.expected.values()}),
                "models": sorted({model_label(a.model, a.variant, a.agent) for a in self.expected.values()})}


def plan_difference(before: dict[str, list[str]], now: dict[str, list[str]], kind: str) -> dict[str, list[str]]:
    """``{"added": [...], "missing": [...]}`` of ``kind`` (canaries or models) between plans."""
    had, has = set(before.get(kind, [])), set(now.get(kind, []))
    return {"added": sorted(has - had), "missing": sorted(had - has)}


def merge_plans(*plans: dict[str, list[str]]) -> dict[str, list[str]]:
    """A resumed run covers everything any of its sessions set out to run."""
    return {kind: sorted({name for plan in plans for name in plan.get(kind, [])})
            for kind in ("canaries", "models")}


def describe_difference(run_id: str, kind: str, difference: dict[str, list[str]]) -> str | None:
    """One warning line, or None when nothing differs."""
    parts = [f"{what}: {', '.join(names)}" for what, names in
             (("added", difference["added"]), ("missing", difference["missing"])) if names]
    if not parts:
        return None
    return (f"agentbench: WARNING: resuming run {run_id} with different {kind} than it had - "
            + "; ".join(parts))
