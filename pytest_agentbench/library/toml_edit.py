"""Edits of existing ``canary.toml`` files that keep their comments and layout (tomlkit: a
maintained round-trip TOML library; our own toml_writer only writes new files)."""

from __future__ import annotations

from pathlib import Path

import tomlkit


def write_expect_tests(canary_toml: Path, count: int) -> None:
    """Set ``verify.expect_tests = count`` (the reference solution's passing tests)."""
    document = tomlkit.parse(canary_toml.read_text(encoding="utf-8"))
    verify = document.get("verify")
    if verify is None:
        verify = tomlkit.table()
        document["verify"] = verify
    verify["expect_tests"] = count
    canary_toml.write_text(tomlkit.dumps(document), encoding="utf-8")
