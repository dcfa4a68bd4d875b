"""Every HTTP client the plugin makes shares one TLS context.

httpx builds a new one for each client it creates, loading the whole CA bundle (about 20 ms a
client, measured here with cProfile: ``load_verify_locations``), and a run creates clients per
model, per preflight probe and per proxy. The context is made once, as httpx would make it (its
CA bundle, ``SSL_CERT_FILE``/``SSL_CERT_DIR`` read then), and only when a client is first made.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx


@functools.lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def http_client(**options: Any) -> httpx.Client:
    """``httpx.Client(**options)`` with the shared TLS context."""
    return httpx.Client(verify=tls_context(), **options)
