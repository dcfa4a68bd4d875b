"""Request bodies for an append-only history, encoded incrementally.

The loop never changes a message once it is in the history (the server's prefix cache depends on
it, DESIGN §7), so each message is JSON-encoded once and the body is assembled from the cached
pieces: re-encoding 200 turns of history cost ~1.7 ms a turn. A message is recognised by identity
(the cache holds a reference, so an id cannot be reused while cached); anything new, or a history
that is not the cached one's continuation, is encoded afresh.
"""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class BodyEncoder:
    def __init__(self) -> None:
        self._cache: list[tuple[dict[str, Any], bytes]] = []

    def encode(self, body: dict[str, Any]) -> bytes:
        messages = body.get("messages")
        if not isinstance(messages, list):
            return dumps(body)
        cache, kept = self._cache, 0
        while kept < len(cache) and kept < len(messages) and cache[kept][0] is messages[kept]:
            kept += 1
        del cache[kept:]
        cache.extend((message, dumps(message)) for message in messages[kept:])
        encoded = b"[" + b",".join(piece for _, piece in cache) + b"]"
        head = dumps({key: value for key, value in body.items() if key != "messages"})
        return (b'{"messages":' if head == b"{}" else head[:-1] + b',"messages":') + encoded + b"}"
