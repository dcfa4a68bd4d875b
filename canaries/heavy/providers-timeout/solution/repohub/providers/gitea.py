"""Gitea / Forgejo instances (codeberg.org and self-hosted ones)."""

from __future__ import annotations

from repohub.providers.base import split_repo_url

NAME = "gitea"
HOSTS = ("codeberg.org", "gitea.com", "git.example.org")


def fetch(url: str, *, timeout: float) -> dict:
    """Metadata of the Gitea repository at ``url`` (the API lives on the same host)."""
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    host, owner, repo = split_repo_url(url)
    base = f"https://{host}"
    return dict(
        provider=NAME,
        owner=owner,
        repo=repo,
        api=f"{base}/api/v1/repos/{owner}/{repo}",
        clone=f"{base}/{owner}/{repo}.git",
        host=host,
        timeout=timeout,
    )
