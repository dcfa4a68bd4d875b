"""GitHub (github.com)."""

from __future__ import annotations

from repohub.providers.base import split_repo_url

NAME = "github"
HOSTS = ("github.com", "www.github.com")


def fetch(url: str) -> dict:
    """Metadata of the GitHub repository at ``url``."""
    _, owner, repo = split_repo_url(url)
    return {
        "provider": NAME,
        "owner": owner,
        "repo": repo,
        "api": f"https://api.github.com/repos/{owner}/{repo}",
        "clone": f"https://github.com/{owner}/{repo}.git",
    }
