"""SourceHut (git.sr.ht). Owners are written with a leading '~'."""

from __future__ import annotations

from repohub.providers.base import split_repo_url

NAME = "sourcehut"
HOSTS = ("git.sr.ht",)


def _canonical_owner(owner: str) -> str:
    return owner if owner.startswith("~") else f"~{owner}"


def fetch(url: str, *, timeout: float) -> dict:
    """Metadata of the SourceHut repository at ``url``."""
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    _, owner, repo = split_repo_url(url)
    owner = _canonical_owner(owner)
    return {
        "provider": NAME,
        "owner": owner,
        "repo": repo,
        "api": f"https://git.sr.ht/api/{owner}/repos/{repo}",
        "clone": f"https://git.sr.ht/{owner}/{repo}",
        "timeout": timeout,
    }
