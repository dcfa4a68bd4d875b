"""Sync one repository: resolve its provider and describe what to pull."""

from __future__ import annotations

from repohub import providers, settings


def sync_repo(url: str, timeout: float | None = None) -> dict:
    """Metadata for ``url`` plus the user agent every request of the sync will send."""
    provider = providers.for_url(url)
    if timeout is None:
        timeout = settings.DEFAULT_TIMEOUT
    info = provider.fetch(url, timeout=timeout)
    info["user_agent"] = settings.USER_AGENT
    return info
