"""Sync one repository: resolve its provider and describe what to pull."""

from __future__ import annotations

from repohub import providers, settings


def sync_repo(url: str) -> dict:
    """Metadata for ``url`` plus the user agent every request of the sync will send."""
    provider = providers.for_url(url)
    info = provider.fetch(url)
    info["user_agent"] = settings.USER_AGENT
    return info
