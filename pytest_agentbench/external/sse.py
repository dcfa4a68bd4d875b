"""Reassembling a streamed chat completion (``stream: true``, server-sent events) into the body a
non-streamed request would have returned, so the proxy records both alike."""

from __future__ import annotations

import json
from typing import Any


def reassemble_stream(raw: bytes) -> dict[str, Any]:
    """The ``choices[0].message`` / ``finish_reason`` / ``usage`` body of the chunks in ``raw``.
    Tool-call deltas are joined by their ``index``; a chunk that is not JSON is skipped (a
    keep-alive comment, ``[DONE]``)."""
    content: list[str] = []
    reasoning: list[str] = []
    reasoning_key = "reasoning_content"
    calls: dict[int, dict[str, Any]] = {}
    finish_reason = None
    usage = None
    extra: dict[str, Any] = {}
    for line in raw.decode("utf-8", errors="replace").splitlines():
        if not line.startswith("data:"):
            continue
        try:
            chunk = json.loads(line[5:].strip())
        except ValueError:
            continue
        if not isinstance(chunk, dict):
            continue
        if isinstance(chunk.get("usage"), dict):
            usage = chunk["usage"]
        for key in ("timings", "model", "id"):
            if key in chunk:
                extra[key] = chunk[key]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            finish_reason = choice.get("finish_reason") or finish_reason
            delta = choice.get("delta") or {}
            if not isinstance(delta, dict):
                continue
            if isinstance(delta.get("content"), str):
                content.append(delta["content"])
            for key in ("reasoning_content", "reasoning"):
                if isinstance(delta.get(key), str):
                    reasoning.append(delta[key])
                    reasoning_key = key
            for part in delta.get("tool_calls") or []:
                if not isinstance(part, dict):
                    continue
                call = calls.setdefault(int(part.get("index") or 0),
                                        {"type": "function", "function": {"name": "", "arguments": ""}})
                if part.get("id"):
                    call["id"] = part["id"]
                function = part.get("function") or {}
                call["function"]["name"] += function.get("name") or ""
                call["function"]["arguments"] += function.get("arguments") or ""
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content) or None}
    if reasoning:
        message[reasoning_key] = "".join(reasoning)
    if calls:
        message["tool_calls"] = [calls[index] for index in sorted(calls)]
    body: dict[str, Any] = {"choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
                            **extra}
    if usage is not None:
        body["usage"] = usage
    return body
