"""Parse INI-style text into nested dictionaries."""

from __future__ import annotations

from confparse.errors import ConfigError  # noqa: F401  (used by the implementation)


def parse_config(text: str) -> dict[str, dict[str, str]]:
    """Parse ``text`` into {section: {key: value}}; raise ConfigError for malformed lines."""
    raise NotImplementedError("parse_config is not implemented yet")
