"""``agentbench promote --write``: a role's new incumbent and challengers written into the
registry file it came from, with tomlkit (a round-tripping TOML library, as library/toml_edit.py
uses) so every comment and the layout stay; the diff is what the user reviews."""

from __future__ import annotations

import difflib
from typing import Any

import tomlkit

from pytest_agentbench.routing.roles import RoleSpec


def _replace(table: Any, key: str, value: Any) -> None:
    """Set ``key`` keeping the old value's end-of-line comment (tomlkit drops it otherwise)."""
    old = table.get(key)
    new = tomlkit.item(value)
    if old is not None and getattr(old, "trivia", None) is not None:
        new.trivia.comment_ws = old.trivia.comment_ws
        new.trivia.comment = old.trivia.comment
    table[key] = new


def write_roles(changes: list[tuple[RoleSpec, str, list[str]]]) -> str:
    """Write each ``(role, incumbent, challengers)`` into its source file; the unified diff."""
    by_file: dict[Any, list[tuple[RoleSpec, str, list[str]]]] = {}
    for change in changes:
        by_file.setdefault(change[0].source, []).append(change)
    diffs = []
    for path, edits in by_file.items():
        before = path.read_text(encoding="utf-8")
        document = tomlkit.parse(before)
        for role, incumbent, challengers in edits:
            table: Any = document
            for key in role.table:
                table = table[key]
            _replace(table, "incumbent", incumbent)
            _replace(table, "challengers", challengers)
            if incumbent in role.escalation:  # the new incumbent's failures go to the others
                _replace(table, "escalation", [n for n in role.escalation if n != incumbent])
        after = tomlkit.dumps(document)
        path.write_text(after, encoding="utf-8")
        diffs.extend(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                          f"a/{path.name}", f"b/{path.name}"))
    return "".join(diffs)
