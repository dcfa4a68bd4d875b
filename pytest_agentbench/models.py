"""Models under test and how ``--models`` names resolve to endpoints (DESIGN §4.1).

``NAME`` uses the default endpoint; ``NAME@URL`` gives the endpoint inline. The registry in
pyproject.toml / agentbench.toml (issue 3) plugs into :func:`resolve_models`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

OLLAMA_DEFAULT_URL = "http://127.0.0.1:11434/v1"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+-]*$")


class ModelConfigError(ValueError):
    """A ``--models`` value or registry entry that cannot be used."""


@dataclass
class ModelSpec:
    name: str  # what the user calls it; appears in test ids and reports
    base_url: str
    model: str  # the id sent to the server
    api_key_env: str | None = None
    temperature: float = 0.0
    max_tokens: int = 2048
    extra_body: dict[str, Any] = field(default_factory=dict)

    @property
    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    @property
    def id_fragment(self) -> str:
        """The model's part of a test id: ``add-function[qwen2.5:14b-r0]``."""
        return self.name.replace("/", "_")

    def describe(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "model": self.model, "temperature": self.temperature,
                "max_tokens": self.max_tokens}


def _check_url(url: str, source: str) -> str:
    if not re.match(r"^https?://[^/\s]+", url):
        raise ModelConfigError(f"{source}: {url!r} is not an http(s) URL")
    return url.rstrip("/")


def split_model_args(values: list[str]) -> list[str]:
    """``--models a,b --models c`` → ``[a, b, c]`` (duplicates dropped, order kept)."""
    names: list[str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part and part not in names:
                names.append(part)
    return names


def resolve_models(names: list[str], default_base_url: str) -> list[ModelSpec]:
    default_base_url = _check_url(default_base_url, "--agentbench-base-url")
    specs: list[ModelSpec] = []
    for entry in names:
        name, _, url = entry.partition("@")
        if not name or not _NAME_RE.match(name):
            raise ModelConfigError(
                f"--models: {entry!r}: a model name must start with a letter or digit and use "
                "only letters, digits and . _ : / + -"
            )
        base_url = _check_url(url, f"--models {entry}") if url else default_base_url
        if any(spec.name == name for spec in specs):
            raise ModelConfigError(f"--models: {name!r} is given twice")
        specs.append(ModelSpec(name=name, base_url=base_url, model=name))
    return specs
