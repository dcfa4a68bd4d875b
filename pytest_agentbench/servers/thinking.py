"""``think`` / ``think_level`` (the agent config) as the request fields each server documents.

Every server spells "reasoning on/off and how much" differently, and a field a server does not know
is silently ignored, so the translation is per server kind (servers/preflight.py detects it), each
row from the server's own documentation or source:

* llama.cpp ``llama-server`` (tools/server/README.md, "chat_template_kwargs: Allows sending
  additional parameters to the json templating system. For example: {"enable_thinking": false}";
  server-common.cpp merges a request's ``chat_template_kwargs`` over ``--chat-template-kwargs``):
  ``chat_template_kwargs: {"enable_thinking": bool, "reasoning_effort": level}``; the level
  reaches templates that read it (gpt-oss).
* vLLM (docs features/reasoning_outputs: Qwen3's reasoning "is enabled by default. To disable it,
  you must pass enable_thinking=False in your chat_template_kwargs"; entrypoints/openai/protocol.py
  ``ChatCompletionRequest.reasoning_effort: Literal["low", "medium", "high"]``):
  ``chat_template_kwargs: {"enable_thinking": bool}`` and ``reasoning_effort: level``.
* Ollama (openai/openai.go ``FromChatRequest``: ``reasoning_effort`` "high|medium|low|none" becomes
  the native ``think`` value, "none" → ``think: false``; api/types.go ``ThinkValue``: ``true`` means
  the level "medium"). The plugin talks to ``/v1``, where the native ``think`` field is not read:
  ``reasoning_effort: level``, ``"medium"`` for ``think = true``, ``"none"`` for ``think = false``.
* LM Studio (OpenAI-compatible ``/v1/chat/completions`` reads OpenAI's ``reasoning_effort``, "none"
  to "xhigh"; its docs list ``reasoning.effort`` for ``/v1/responses``): as Ollama.
* MLX ``mlx_lm.server`` (mlx_lm/server.py reads ``chat_template_kwargs`` from the body and passes it
  to the chat template): ``chat_template_kwargs: {"enable_thinking": bool}``; it has no effort
  field, so ``think_level`` is an error.
* llama-cpp-python's server: no reasoning control in its request model: an error.
* any other OpenAI-compatible server: OpenAI's own ``reasoning_effort`` (as Ollama).
"""

from __future__ import annotations

from typing import Any

from pytest_agentbench.errors import AgentbenchError

LEVELS = ("low", "medium", "high")
DEFAULT_LEVEL = "medium"  # what Ollama's think=true means (api/types.go ThinkValue.String)


class ThinkingUnsupported(AgentbenchError, ValueError):
    """The server has no request field for the asked reasoning control; the message says what to
    do instead."""


def thinking_fields(kind: str | None, think: bool | None, level: str | None) -> dict[str, Any]:
    """The request-body fields for ``think``/``think_level`` on a server of ``kind``; ``{}`` when
    neither is set (the server's default). ``think_level`` implies thinking on."""
    if think is None and level is None:
        return {}
    on = think is not False
    if kind == "llama.cpp":
        kwargs: dict[str, Any] = {"enable_thinking": on}
        if level and on:
            kwargs["reasoning_effort"] = level
        return {"chat_template_kwargs": kwargs}
    if kind == "vllm":
        body: dict[str, Any] = {"chat_template_kwargs": {"enable_thinking": on}}
        if level and on:
            body["reasoning_effort"] = level
        return body
    if kind == "mlx":
        if level:
            raise ThinkingUnsupported(
                f"think_level={level}: mlx_lm.server has no reasoning-effort field (it only passes "
                "chat_template_kwargs to the chat template); drop think_level, or put the kwarg your "
                "model's template reads in extra_body.chat_template_kwargs")
        return {"chat_template_kwargs": {"enable_thinking": on}}
    if kind == "llama-cpp-python":
        raise ThinkingUnsupported(
            "think/think_level: llama-cpp-python's server has no request field for reasoning "
            "(no chat_template_kwargs, no reasoning_effort); serve the model with llama-server "
            "--jinja instead, or drop think/think_level")
    # ollama, lmstudio, openai-compatible: OpenAI's reasoning_effort
    return {"reasoning_effort": (level or DEFAULT_LEVEL) if on else "none"}


def merge_body(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``, one level deep for dict values (a registry's own
    ``extra_body.chat_template_kwargs`` keeps the thinking kwargs it does not set)."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged
