"""The agent registry: which agent program drives an attempt.

``builtin`` is the plugin's own loop (agent/loop.py), run in-process. Any other name is an entry
``[tool.agentbench.agents.NAME]`` in ``pyproject.toml`` or ``[agents.NAME]`` in ``agentbench.toml``
(which wins): a command run in the attempt's sandbox with its model traffic through the recording
proxy (external/run.py). The agent is a parametrization dimension like the variant; its name is
in test ids, results, the database key and the summary rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.schemas.registry_files import registry_tables, validation_problem

BUILTIN = "builtin"
PLACEHOLDERS = ("prompt_file", "prompt", "model", "base_url", "api_key", "workdir")
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def fill(template: list[str] | dict[str, str], values: dict[str, str]):
    """Placeholders ``{prompt}``, ``{prompt_file}``, ``{model}``, ``{base_url}``, ``{api_key}``,
    ``{workdir}`` in an agent's command or environment; an unknown one is an error, not a blank."""
    def one(text: str) -> str:
        try:
            return text.format_map(values)
        except KeyError as exc:
            raise ValueError(f"unknown placeholder {{{exc.args[0]}}} in {text!r}; known: "
                             f"{', '.join('{' + k + '}' for k in sorted(values))}") from None
    if isinstance(template, dict):
        return {key: one(value) for key, value in template.items()}
    return [one(part) for part in template]


class AgentConfigError(AgentbenchError):
    """A malformed agent entry or an unknown agent name, worded for the user."""


class DoneRule(BaseModel):
    """When the agent has claimed it is done: its exit code is ``exit_code`` (default 0), or its
    output contains ``marker``. Only ``claimed_done`` depends on it: the outcome comes from
    verification, whatever the agent says."""

    model_config = ConfigDict(extra="forbid")
    exit_code: int | None = None
    marker: str | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> DoneRule:
        if (self.exit_code is None) == (self.marker is None):
            raise ValueError("give exactly one of exit_code or marker")
        return self

    def claimed(self, exit_code: int | None, output: str) -> bool:
        if self.marker is not None:
            return self.marker in output
        return exit_code == self.exit_code


class AgentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    command: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    read_only: list[str] = Field(default_factory=list)  # extra host paths the jail shows, read-only
    timeout: float | None = Field(default=None, gt=0)  # seconds; caps the canary's time budget
    setup: list[str] | None = Field(default=None, min_length=1)  # run before the agent, same sandbox
    done: DoneRule = Field(default_factory=lambda: DoneRule(exit_code=0))

    @field_validator("done", mode="before")
    @classmethod
    def _done_shorthand(cls, value: Any) -> Any:
        # done = 0 (an exit code) or done = "MARKER" (a marker in the output).
        if isinstance(value, bool):
            return value  # refused by the model: true is not an exit code
        if isinstance(value, int):
            return {"exit_code": value}
        if isinstance(value, str):
            return {"marker": value}
        return value

    @field_validator("read_only")
    @classmethod
    def _absolute(cls, value: list[str]) -> list[str]:
        relative = [p for p in value if not p.startswith("/")]
        if relative:
            raise ValueError(f"paths must be absolute: {relative}")
        return value

    @field_validator("command", "env", "setup")
    @classmethod
    def _known_placeholders(cls, value: Any) -> Any:
        # Checked at load time so a typo is a usage error before anything runs, not N failures.
        if value is not None:
            fill(value, {key: "" for key in PLACEHOLDERS})
        return value


def load_agents(rootdir: Path) -> dict[str, AgentSpec]:
    """Agent entries from ``agentbench.toml`` and ``pyproject.toml`` (the first wins) in ``rootdir``."""
    registry: dict[str, AgentSpec] = {}
    for path, keys, table in registry_tables(rootdir, "agents", AgentConfigError, "the agent registry"):
        prefix = ".".join(keys)
        if not isinstance(table, dict):
            raise AgentConfigError(f"{path}: [{prefix}] must be a table")
        for name, entry in table.items():
            where = f"{path}: [{prefix}.{name}]"
            if name == BUILTIN or not set(name) <= _NAME_CHARS:
                raise AgentConfigError(f"{where}: the name must be letters, digits, '.', '_' or '-' "
                                       f"and not {BUILTIN!r}")
            if not isinstance(entry, dict):
                raise AgentConfigError(f"{where}: must be a table")
            if name in registry:
                continue  # agentbench.toml (read first) wins over pyproject.toml
            try:
                registry[name] = AgentSpec.model_validate({**entry, "name": name})
            except ValidationError as exc:
                raise AgentConfigError(f"{where}: {validation_problem(exc)}") from None
            except ValueError as exc:  # an unknown placeholder (fill)
                raise AgentConfigError(f"{where}: {exc}") from None
    return registry


def resolve_agents(names: list[str], registry: dict[str, AgentSpec]) -> list[str]:
    """The agents a run uses, checked against the registry, in the order given, no duplicates."""
    chosen: list[str] = []
    for name in names or [BUILTIN]:
        if name != BUILTIN and name not in registry:
            known = ", ".join([BUILTIN, *sorted(registry)])
            raise AgentConfigError(f"--agentbench-agent: unknown agent {name!r}; known: {known} "
                                   "(declare it under [tool.agentbench.agents.NAME] or [agents.NAME] "
                                   "in agentbench.toml)")
        if name not in chosen:
            chosen.append(name)
    return chosen
