"""Semantic version numbers (MAJOR.MINOR.PATCH)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse '1.4.2' (surrounding whitespace allowed); raise ValueError otherwise."""
        match = _VERSION.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"not a version: {text!r}")
        return cls(*(int(group) for group in match.groups()))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"
