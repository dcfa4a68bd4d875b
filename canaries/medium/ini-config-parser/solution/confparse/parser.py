"""Parse INI-style text into nested dictionaries."""

from __future__ import annotations

from confparse.errors import ConfigError


def parse_config(text: str) -> dict[str, dict[str, str]]:
    """Parse ``text`` into {section: {key: value}}; raise ConfigError for malformed lines."""
    result: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise ConfigError(lineno, "unterminated section header")
            name = line[1:-1].strip()
            if not name:
                raise ConfigError(lineno, "empty section name")
            if name in result:
                raise ConfigError(lineno, f"duplicate section: {name}")
            current = result[name] = {}
            continue
        if "=" not in line:
            raise ConfigError(lineno, "expected key = value")
        key, value = line.split("=", 1)
        key, value = key.strip().lower(), value.strip()
        if not key:
            raise ConfigError(lineno, "empty key")
        if current is None:
            raise ConfigError(lineno, "key outside of any section")
        if key in current:
            raise ConfigError(lineno, f"duplicate key: {key}")
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        current[key] = value
    return result
