"""Where registries live: a section of ``agentbench.toml`` (``[models]``, ``[agents]``,
``[roles]``, ``[directives]``) or the same under ``[tool.agentbench]`` of ``pyproject.toml``.
Models, agents, roles and directives all read them the same way, through here; for a name in
both files, ``agentbench.toml`` wins (it is read first: the readers keep the first entry)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def registry_tables(rootdir: Path, section: str, error: type[Exception],
                    what: str) -> Iterator[tuple[Path, tuple[str, ...], Any]]:
    """``(path, keys, table)`` for ``section`` in ``agentbench.toml`` then ``pyproject.toml``
    (files that do not exist are skipped; a missing section is ``{}``). A file that cannot be
    read or parsed raises ``error`` naming it and ``what`` was being read."""
    sources = [(rootdir / "agentbench.toml", (section,)),
               (rootdir / "pyproject.toml", ("tool", "agentbench", section))]
    for path, keys in sources:
        if not path.is_file():
            continue
        try:
            table: Any = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise error(f"{path}: cannot read {what}: {exc}") from None
        for key in keys:
            table = table.get(key, {}) if isinstance(table, dict) else {}
        yield path, keys, table


def validation_problem(exc: ValidationError) -> str:
    """The first problem of a registry entry, as ``key 'FIELD': what is wrong``."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    key = f"key '{field}': " if field else ""
    return f"{key}{message.removeprefix('Value error, ')}"
