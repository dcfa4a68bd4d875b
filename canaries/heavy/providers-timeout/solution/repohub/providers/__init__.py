"""Provider registry: one module per code-hosting service, each exposing ``fetch(url, *, timeout)``.

Every provider module has ``NAME`` (short id), ``HOSTS`` (host names it serves) and
``fetch(url, *, timeout) -> dict`` returning repository metadata with at least the keys
"provider", "owner", "repo", "api", "clone" and "timeout".
"""

from __future__ import annotations

from types import ModuleType
from urllib.parse import urlsplit

from repohub.providers import bitbucket, gitea, github, gitlab, sourcehut

ALL: tuple[ModuleType, ...] = (github, gitlab, bitbucket, gitea, sourcehut)


def for_url(url: str) -> ModuleType:
    """The provider module serving ``url``; LookupError when no provider knows its host."""
    host = (urlsplit(url).hostname or "").lower()
    for provider in ALL:
        if host in provider.HOSTS:
            return provider
    raise LookupError(f"no provider for host {host!r}")
