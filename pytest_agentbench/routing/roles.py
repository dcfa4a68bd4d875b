"""Roles (the routing slots): ``[tool.agentbench.roles.NAME]`` in pyproject.toml or
``[roles.NAME]`` in agentbench.toml (which wins, role by role). A canary serves a role when it
matches every selector the role gives: its tier is one of ``tiers``, it carries every tag of
``tags``, its id is one of ``canaries``; a role without selectors is served by every canary.
``escalation`` names the models each failed attempt of the incumbent is retried on, in order
(routing/escalation.py)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.schemas.canary import Tier
from pytest_agentbench.schemas.models import ModelSpec
from pytest_agentbench.schemas.registry_files import registry_tables, validation_problem


class RoleError(AgentbenchError, ValueError):
    """A role entry or a role name that cannot be used; the message names file, role and key."""


class RoleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tiers: list[Tier] | None = None
    tags: list[str] | None = None
    canaries: list[str] | None = None
    incumbent: str = Field(min_length=1)
    challengers: list[str] = Field(default_factory=list)
    # Turbo escalation: each failed attempt of the incumbent is retried on these models, in
    # order, until one passes (routing/escalation.py); they run on the role's canaries.
    escalation: list[str] = Field(default_factory=list)
    # The agent the role's models work through: its attempts alone are scored, so a run
    # with --agentbench-agent builtin,mini never pools one model's attempts from two agents.
    agent: str = Field(default="builtin", min_length=1)
    # Filled in by the loader: the role's name, and the file and table it came from (--write).
    name: str = Field(default="", exclude=True)
    source: Path | None = Field(default=None, exclude=True)
    table: tuple[str, ...] = Field(default=(), exclude=True)

    @model_validator(mode="after")
    def _distinct_models(self) -> RoleSpec:
        names = [self.incumbent, *self.challengers]
        twice = next((n for n in names if names.count(n) > 1), None)
        if twice is not None:
            raise ValueError(f"{twice!r} is named twice among incumbent and challengers")
        if self.incumbent in self.escalation:
            raise ValueError(f"escalation: {self.incumbent!r} is the incumbent: its failed attempts "
                             "go to other models")
        again = next((n for n in self.escalation if self.escalation.count(n) > 1), None)
        if again is not None:
            raise ValueError(f"escalation: {again!r} is named twice")
        return self

    @property
    def models(self) -> list[str]:
        return [self.incumbent, *self.challengers]

    @property
    def run_models(self) -> list[str]:
        """The models a role run benchmarks: incumbent, challengers, then the escalation models
        (a challenger may be one too: its attempts serve both)."""
        return [*self.models, *(n for n in self.escalation if n not in self.models)]

    def serves(self, canary: str, tier: str, tags: list[str]) -> bool:
        return ((self.tiers is None or tier in self.tiers)
                and (self.tags is None or set(self.tags) <= set(tags))
                and (self.canaries is None or canary in self.canaries))


def load_roles(rootdir: Path, registry: dict[str, ModelSpec]) -> dict[str, RoleSpec]:
    """Every role of the registry files in ``rootdir``; each names only registry models."""
    roles: dict[str, RoleSpec] = {}
    for path, keys, table in registry_tables(rootdir, "roles", RoleError, "roles"):
        for name, entry in table.items():
            where = f"{path}: [{'.'.join(keys)}.{name}]"
            if name in roles:
                continue  # agentbench.toml wins over pyproject.toml
            if not isinstance(entry, dict):
                raise RoleError(f"{where}: must be a table")
            try:
                role = RoleSpec.model_validate(entry)
            except ValidationError as exc:
                raise RoleError(f"{where}: {validation_problem(exc)}") from None
            for field, names in (("incumbent", [role.incumbent]), ("challengers", role.challengers),
                                 ("escalation", role.escalation)):
                unknown = [n for n in names if n not in registry]
                if unknown:
                    raise RoleError(f"{where}: key '{field}': {unknown[0]!r} is not a registry model "
                                    f"(known: {', '.join(sorted(registry)) or 'none'})")
            role.name, role.source, role.table = name, path, (*keys, name)
            roles[name] = role
    return roles


def chosen_roles(names: list[str], roles: dict[str, RoleSpec]) -> list[RoleSpec]:
    """The roles ``--agentbench-role`` names, in order; an unknown name is an error."""
    chosen = []
    for name in names:
        if name not in roles:
            raise RoleError(f"--agentbench-role: {name!r}: no such role "
                            f"(known: {', '.join(sorted(roles)) or 'none'})")
        if all(role.name != name for role in chosen):
            chosen.append(roles[name])
    return chosen


def role_model_names(roles: list[RoleSpec]) -> list[str]:
    """The models the roles run: each incumbent, challenger and escalation model once, in order."""
    names: list[str] = []
    for role in roles:
        names.extend(n for n in role.run_models if n not in names)
    return names
