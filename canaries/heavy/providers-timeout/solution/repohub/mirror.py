"""Plan mirrors for many repositories at once."""

from __future__ import annotations

import posixpath

from repohub import providers, settings


def mirror_plan(urls: list[str], timeout: float | None = None) -> list[dict]:
    """One entry per URL, in order: where to clone from and where the mirror goes on disk."""
    if timeout is None:
        timeout = settings.DEFAULT_TIMEOUT
    plan = []
    for url in urls:
        info = providers.for_url(url).fetch(url, timeout=timeout)
        plan.append(
            {
                "source": info["clone"],
                "target": posixpath.join(settings.MIRROR_ROOT, info["provider"], info["owner"], info["repo"]),
                "meta": info,
            }
        )
    return plan
