"""Process-wide settings. Tests and the CLI may change these at runtime."""

from __future__ import annotations

DEFAULT_TIMEOUT = 10.0  # seconds, for every request to a provider
USER_AGENT = "repohub/1.4"
MIRROR_ROOT = "/srv/mirrors"
