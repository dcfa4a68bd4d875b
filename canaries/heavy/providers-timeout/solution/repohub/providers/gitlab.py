"""GitLab (gitlab.com). Its API addresses projects by URL-encoded path."""

from __future__ import annotations

from urllib.parse import quote

from repohub.providers.base import split_repo_url

NAME = "gitlab"
HOSTS = ("gitlab.com",)
API_ROOT = "https://gitlab.com/api/v4"


def _project_id(owner: str, repo: str) -> str:
    return quote(f"{owner}/{repo}", safe="")


def fetch(url: str, *, timeout: float) -> dict:
    """Metadata of the GitLab project at ``url``."""
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    _, owner, repo = split_repo_url(url)
    return {
        "provider": NAME,
        "owner": owner,
        "repo": repo,
        "api": f"{API_ROOT}/projects/{_project_id(owner, repo)}",
        "clone": f"https://gitlab.com/{owner}/{repo}.git",
        "default_branch_hint": "main",
        "timeout": timeout,
    }
