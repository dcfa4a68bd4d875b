"""The one error type of confparse: a problem on a given line of the input."""

from __future__ import annotations


class ConfigError(Exception):
    """Raised for malformed configuration text; ``lineno`` is 1-based."""

    def __init__(self, lineno: int, message: str) -> None:
        super().__init__(lineno, message)
        self.lineno = lineno
        self.message = message

    def __str__(self) -> str:
        return f"line {self.lineno}: {self.message}"
