"""The factors a variant can change beyond the sampling keys: the budgets
``turns``/``tokens``/``seconds`` (schemas/budget.py) and a named prompt directive.

A directive is text declared once and appended to the system prompt by name::

    [tool.agentbench.directives]            # or [directives] in agentbench.toml, which wins
    completeness = "Before you finish, check every file the task names ..."

``directive=completeness`` (a sweep, an OFAT factor or a registry entry) appends it;
``directive=none`` appends nothing, so a model whose registry entry has a directive can be
compared with itself without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.schemas.budget import BUDGET_KEYS
from pytest_agentbench.schemas.registry_files import registry_tables

NO_DIRECTIVE = "none"
# Factors the harness applies (the loop's budgets, the system prompt) rather than the request.
HARNESS_FACTORS = (*BUDGET_KEYS, "directive")


class DirectiveError(AgentbenchError, ValueError):
    """A directives table or a directive name that cannot be used; the message names it."""


def load_directives(rootdir: Path) -> dict[str, str]:
    """``{name: text}`` from ``agentbench.toml`` ``[directives]`` and ``pyproject.toml``
    ``[tool.agentbench.directives]`` (the first wins for a name, as for models)."""
    directives: dict[str, str] = {}
    for path, keys, table in registry_tables(rootdir, "directives", DirectiveError, "directives"):
        where = f"{path}: [{'.'.join(keys)}]"
        if not isinstance(table, dict):
            raise DirectiveError(f"{where}: must be a table of name = \"text\"")
        for name, text in table.items():
            if name == NO_DIRECTIVE:
                raise DirectiveError(f"{where}: {name!r} is reserved (directive=none appends nothing)")
            if not isinstance(text, str) or not text.strip():
                raise DirectiveError(f"{where}: {name!r} must be non-empty text")
            directives.setdefault(name, text.strip())
    return directives


def check_directive(name: str | None, directives: Mapping[str, str], where: str) -> None:
    """A directive name must be declared (or ``none``): refused before anything runs."""
    if name is None or name == NO_DIRECTIVE or name in directives:
        return
    known = ", ".join(sorted(directives)) or "none declared: add [tool.agentbench.directives]"
    raise DirectiveError(f"{where}: directive {name!r} is not declared (known: {known}; "
                         f"or {NO_DIRECTIVE})")


def system_prompt_with(base: str, directive: str | None, directives: Mapping[str, str]) -> str:
    """The system prompt with the directive's text appended (``base`` unchanged without one)."""
    if directive is None or directive == NO_DIRECTIVE:
        return base
    return f"{base.rstrip()}\n\n{directives[directive]}"


def budget_factors(model: Any) -> dict[str, Any]:
    """A model's (variant's) budget factors: ``{"turns": "x2"}``; empty when it sets none."""
    return {key: getattr(model, key) for key in BUDGET_KEYS if getattr(model, key, None) is not None}


def check_model_factors(models: list[Any], directives: Mapping[str, str]) -> None:
    """A registry entry's directive must be declared (its budgets were checked on reading)."""
    for model in models:
        check_directive(model.directive, directives, f"model {model.name!r}")
