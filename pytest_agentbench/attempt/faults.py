"""One vocabulary for what went wrong with a request to a model server, for every driver.

The built-in loop's client, the recording proxy in front of an external agent and the judge
models' client all meet the same servers, so they read an error the same way: :func:`server_fault`
turns an HTTP status and body into a :class:`FaultKind`, and the kind says whose the fault is.

Only a request that does not fit the model's context is the attempt's own doing (the model or the
canary made the conversation too long: a token ceiling, ``budget_tokens``). Everything else — an
unreachable server, a 5xx, out of memory, a rate limit, an overloaded server, a reply that is not
the protocol — is the infrastructure's: ``infra_error``, left out of every rate.

Order matters: servers name the context size in their out-of-memory messages (llama.cpp:
"CUDA out of memory ... n_ctx = 8192") and rate limits count tokens ("too many tokens per
minute"), so those are recognised before the context-overflow markers.
"""

from __future__ import annotations

from enum import Enum


class FaultKind(str, Enum):
    CONTEXT_OVERFLOW = "context_overflow"  # the request does not fit: the attempt's own ceiling
    OUT_OF_MEMORY = "out_of_memory"
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"  # busy, no free slot, a model still loading
    SERVER_ERROR = "server_error"  # unreachable, 5xx, a fault with no more to say
    HTTP_ERROR = "http_error"  # a 4xx the request itself caused (a bad model name, auth)
    PROTOCOL_VIOLATION = "protocol_violation"  # a reply that is not the chat-completions protocol

    @property
    def is_infrastructure(self) -> bool:
        """Whether the fault is the server's (``infra_error``), not the attempt's."""
        return self is not FaultKind.CONTEXT_OVERFLOW


_OUT_OF_MEMORY = ("out of memory", "out_of_memory", "cuda error", "cudamalloc", "failed to allocate",
                  "insufficient memory", "not enough memory", "oom-kill", "oom kill", "memory exhausted")
_RATE_LIMITED = ("rate limit", "rate_limit", "ratelimit", "too many requests", "per minute",
                 "quota exceeded", "quota_exceeded")
_OVERLOADED = ("overloaded", "server is busy", "server busy", "no slot available",
               "no slots available", "loading model", "model is loading", "service unavailable",
               "try again later")
# What servers say when a request does not fit the context: llama.cpp ("the request exceeds the
# available context size", type "exceed_context_size_error"; per-slot HTTP 500 "Context size has
# been exceeded", also LM Studio's), OpenAI / vLLM ("maximum context length", code
# "context_length_exceeded"), Ollama ("input length exceeds the context length", "prompt too long").
CONTEXT_OVERFLOW_MARKERS = (
    "context length", "context_length", "context window", "maximum context",
    "exceeds the available context", "exceed_context_size", "too many tokens", "n_ctx",
    "prompt too long", "prompt is too long", "context size has been exceeded", "context overflow",
)


def server_fault(status: int | None, text: str) -> FaultKind | None:
    """What an answer with HTTP ``status`` (None: the connection failed) and body ``text`` says
    went wrong, or None when it is no fault (a 200 without an error body)."""
    lowered = text.lower()
    if any(marker in lowered for marker in _OUT_OF_MEMORY):
        return FaultKind.OUT_OF_MEMORY
    if status == 429 or any(marker in lowered for marker in _RATE_LIMITED):
        return FaultKind.RATE_LIMITED
    if any(marker in lowered for marker in _OVERLOADED):
        return FaultKind.OVERLOADED
    if status in (400, 413, 500, 200) and any(marker in lowered for marker in CONTEXT_OVERFLOW_MARKERS):
        return FaultKind.CONTEXT_OVERFLOW
    if status == 503:
        return FaultKind.OVERLOADED
    if status is None or status >= 500:
        return FaultKind.SERVER_ERROR
    if status >= 400:
        return FaultKind.HTTP_ERROR
    return None
