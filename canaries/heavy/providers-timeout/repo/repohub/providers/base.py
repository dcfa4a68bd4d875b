"""Helpers shared by the provider modules."""

from __future__ import annotations

from urllib.parse import urlsplit


def split_repo_url(url: str) -> tuple[str, str, str]:
    """'https://host/owner/repo(.git)(/...)' -> ('host', 'owner', 'repo')."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if not parts.hostname or len(segments) < 2:
        raise ValueError(f"not a repository URL: {url!r}")
    owner, repo = segments[0], segments[1]
    if repo.endswith(".git"):
        repo = repo[: -len(".git")]
    return parts.hostname.lower(), owner, repo
