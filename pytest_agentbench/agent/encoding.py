"""Request bodies for an append-only history, encoded incrementally.

The loop never changes a message once it is in the history (the server's prefix cache depends on
it), so each message is JSON-encoded once and the body is assembled from the cached
pieces: re-encoding 200 turns of history cost ~1.7 ms a turn. A message is recognised by identity
(the cache holds a reference, so an id cannot be reused while cached); anything new, or a history
that is not the cached one's continuation, is encoded afresh.
"""

from __future__ import annotations

import json
import re
from typing import Any

# A lone surrogate is no text in any encoding, yet a model's server may send one as the JSON
# escape "\ud800" and json.loads keeps it: written raw it fails UTF-8 encoding.
_SURROGATE = re.compile("[\ud800-\udfff]")


def escape_surrogates(text: str) -> str:
    """``text`` with each lone surrogate as the JSON escape that brought it (``\\ud800``); in
    JSON text, which holds raw characters only inside strings, that decodes back to it."""
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def literal_surrogates(value: Any) -> Any:
    """``value`` (made of JSON's types) with each lone surrogate in its strings written out as the
    six characters of its escape: for channels that encode strings as UTF-8 themselves (xdist's,
    a terminal), where neither the character nor a JSON escape of it can go."""
    if isinstance(value, str):
        return escape_surrogates(value) if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        return {literal_surrogates(key): literal_surrogates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [literal_surrogates(item) for item in value]
    return value


def json_text(value: Any, **options: Any) -> str:
    """``json.dumps`` with characters as they are (``ensure_ascii=False``) but lone surrogates
    escaped: the result always encodes as UTF-8."""
    return escape_surrogates(json.dumps(value, ensure_ascii=False, **options))


def dumps(value: Any) -> bytes:
    return json_text(value, separators=(",", ":")).encode()


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
