"""Request bodies for an append-only history, encoded incrementally.

The loop never changes a message once it is in the history (the server's prefix cache depends on
it), so each message is JSON-encoded once and the body is assembled from the cached pieces, byte
for byte what ``dumps(body)`` gives: re-encoding 200 turns of history cost ~1.7 ms a turn, and
joining the cached pieces again each turn, plus encoding the tool definitions (~50 µs), was most
of the harness's cost per turn at 50 turns.
"""

from __future__ import annotations

import json
import operator
import re
from typing import Any

# A lone surrogate is no text in any encoding, yet a model's server may send one as the JSON
# escape "\ud800" and json.loads keeps it: written raw it fails UTF-8 encoding.
_SURROGATE = re.compile("[\ud800-\udfff]")
_IMMUTABLE = (str, int, float, bool, type(None))


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
    """``dumps(body)``, byte for byte, without re-encoding what an earlier body already held.

    The history is append-only, so each message is encoded once and appended to a running
    buffer (joining every cached piece again was the cost that grew with the conversation). Every
    other value is re-encoded only when it is a different object: a scalar that is the same object
    is the same value, and a list or dict that is the same object must also still equal the copy
    decoded from its encoding (the tool definitions: 50 µs to encode, 3 µs to compare). A message
    is recognised by identity too (the cache holds a reference, so an id cannot be reused while
    cached); a history that is not the cached one's continuation is encoded afresh from where it
    differs.
    """

    def __init__(self) -> None:
        self._messages: list[Any] = []  # the messages encoded into ``_joined``, in order
        self._ends: list[int] = []  # where each one's encoding ends in ``_joined``
        self._joined = bytearray()  # their encodings, comma-separated
        # key → (value, a deep copy of it for containers, b'"key":' + its encoding)
        self._values: dict[str, tuple[Any, Any, bytes]] = {}

    def encode(self, body: dict[str, Any]) -> bytes:
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(type(key) is str for key in body):
            return dumps(body)  # non-string keys: json.dumps has its own spelling for them
        self._extend(messages)
        pieces: list[bytes | bytearray] = []
        for key, value in body.items():
            if pieces:
                pieces.append(b",")
            if key == "messages":
                pieces += (b'"messages":[', self._joined, b"]")
            else:
                pieces.append(self._value(key, value))
        return b"".join((b"{", *pieces, b"}"))

    def _extend(self, messages: list[Any]) -> None:
        cached = self._messages
        kept = min(len(cached), len(messages))
        if not all(map(operator.is_, cached, messages)):
            kept = next(index for index, (old, new) in enumerate(zip(cached, messages)) if old is not new)
        if kept < len(cached):
            del cached[kept:], self._ends[kept:]
            del self._joined[self._ends[-1] if self._ends else 0:]
        for message in messages[kept:]:
            if cached:
                self._joined += b","
            self._joined += dumps(message)
            cached.append(message)
            self._ends.append(len(self._joined))

    def _value(self, key: str, value: Any) -> bytes:
        entry = self._values.get(key)
        if entry is not None and entry[0] is value and (entry[1] is None or entry[1] == value):
            return entry[2]
        encoded = dumps({key: value})
        # The copy is read back from the encoding: 15 µs for the tool definitions against
        # copy.deepcopy's 69 µs (once per loop).
        copied = None if type(value) in _IMMUTABLE else json.loads(encoded)[key]
        self._values[key] = (value, copied, encoded[1:-1])
        return encoded[1:-1]
