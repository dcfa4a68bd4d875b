"""Bitbucket Cloud (bitbucket.org). Workspaces and slugs are lower case in the API."""

from __future__ import annotations

from repohub.providers.base import split_repo_url

NAME = "bitbucket"
HOSTS = ("bitbucket.org",)


def _api_url(workspace: str, slug: str) -> str:
    return f"https://api.bitbucket.org/2.0/repositories/{workspace.lower()}/{slug.lower()}"


def fetch(url: str) -> dict:
    """Metadata of the Bitbucket repository at ``url``."""
    _, workspace, slug = split_repo_url(url)
    result = {
        "provider": NAME,
        "owner": workspace,
        "repo": slug,
        "api": _api_url(workspace, slug),
    }
    result["clone"] = f"https://bitbucket.org/{workspace}/{slug}.git"
    return result
