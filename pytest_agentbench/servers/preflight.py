"""Preflight: before any attempt, find out which server runs a model and whether it is set up to
run an agent loop honestly (effective context window, tool calling), and say how to fix it if not.

A misconfigured server (silently truncated context, no tool parser) makes a benchmark lie: every
failure would be counted against the model. Each check reads the server's own documented
endpoints; the source of each parser is cited beside it. Nothing here raises: an unreachable or
odd server gives a ``ServerInfo`` whose ``problems`` say what is wrong and how to fix it.
"""

from __future__ import annotations

from typing import Any

import httpx

from pytest_agentbench.servers.server_info import (
    OLLAMA_SMALL_CONTEXT,
    Entries,
    Http,
    ServerInfo,
    decode,
)
from pytest_agentbench.servers.server_kinds import (
    FILL,
    lmstudio,
    lmstudio_v0,
    lmstudio_v1,
    ollama_context,
    ollama_no_tools,
)


def preflight(
    base_url: str, model: str, http: httpx.Client, *, timeout: float = 5.0, probe_tools: bool = True
) -> ServerInfo:
    h = Http(http, base_url, timeout)
    info = _preflight(h, model, probe_tools)
    info.base_url = h.base
    return info


def _preflight(h: Http, model: str, probe_tools: bool) -> ServerInfo:
    http, timeout = h.http, h.timeout
    try:  # every kind serves /v1/models, so it doubles as the reachability check
        status, listed = decode(http.get(h.base + "/models", timeout=timeout))
    except httpx.TimeoutException:
        return _unreachable(f"{h.base}/models gave no answer within {timeout:g}s: is the server "
                            "still loading, or is base_url wrong?")
    except httpx.HTTPError as exc:
        return _unreachable(f"cannot reach {h.base} ({type(exc).__name__}: {exc}); "
                            "start the server or fix base_url")
    if status in (401, 403):
        return _unreachable(f"{h.base}/models answered HTTP {status}: the server wants an API key; "
                            "set api_key_env in the model registry")
    data = listed.get("data") if isinstance(listed, dict) else None
    entries = [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []
    info = ServerInfo(_detect(h, entries), model=model)
    FILL[info.kind](h, info, model, entries)
    if probe_tools:
        _probe_tools(h, info, model)
    if info.kind == "ollama":  # after the probe, which made Ollama load the model as /v1 does
        ollama_context(h, info, model)
    elif info.kind == "lmstudio" and info.context_window is None:  # the probe JIT-loaded it
        h.cache.clear()
        lmstudio(h, info, model, entries)
    note = ollama_num_ctx_note(info)
    if note:
        info.warn(note)
    return info


def _unreachable(problem: str) -> ServerInfo:
    return ServerInfo("unreachable", problems=[problem])


def _detect(h: Http, entries: Entries) -> str:
    owners = {e.get("owned_by") for e in entries}
    if "llamacpp" in owners:  # llama.cpp tools/server/README.md, GET /v1/models example
        return "llama.cpp"
    if "vllm" in owners or any("max_model_len" in e for e in entries):  # vLLM ModelCard
        return "vllm"
    if "me" in owners and all("permissions" in e for e in entries):  # llama_cpp/server/app.py
        return "llama-cpp-python"
    props = h.json("/props")  # llama.cpp README GET /props (builds without owned_by "llamacpp")
    if isinstance(props, dict) and {"default_generation_settings", "build_info"} & set(props):
        return "llama.cpp"
    version = h.json("/api/version")  # Ollama docs/openapi.yaml VersionResponse
    if isinstance(version, dict) and isinstance(version.get("version"), str):
        return "ollama"
    if lmstudio_v1(h) is not None or lmstudio_v0(h) is not None:
        return "lmstudio"
    # mlx_lm/server.py: /v1/models entries are {id, object, created} (no owned_by), /health says
    # {"status": "ok"}, and an unknown path gets http.server's plain-text "Not Found".
    other = h.get("/props")
    if (entries and all("created" in e and "owned_by" not in e for e in entries)
            and h.json("/health") == {"status": "ok"} and other and isinstance(other[1], str)):
        return "mlx"
    return "openai-compatible"


PROBE_TOOL = {"type": "function", "function": {
    "name": "ping", "description": "Answer a ping.",
    "parameters": {"type": "object", "properties": {}}}}


def _probe_tools(h: Http, info: ServerInfo, model: str) -> None:
    """One tiny request shaped like the agent's (tools, tool_choice "auto"): a server that cannot
    take tools rejects it with a telling message, which becomes a problem with its fix."""
    body = {"model": model, "messages": [{"role": "user", "content": "Call the ping tool."}],
            "tools": [PROBE_TOOL], "tool_choice": "auto", "max_tokens": 16, "temperature": 0,
            "stream": False}
    wait = h.timeout * 12  # a first request may have to load the model
    try:
        status, answer = decode(h.http.post(h.base + "/chat/completions", json=body, timeout=wait))
    except httpx.TimeoutException:
        info.warn(f"the tool probe got no answer within {wait:g}s (model still loading?)")
        return
    except httpx.HTTPError as exc:
        info.problem(f"the server dropped the tool probe ({type(exc).__name__}: {exc})")
        return
    if status == 200 and isinstance(answer, dict) and answer.get("choices"):
        info.tool_support = info.tool_support is not False
        _text_tool_call(answer, info)
        return
    said = _error_message(answer)
    low = said.lower()
    if "--jinja" in low or "unsupported param: tool_choice" in low:
        # llama.cpp server utils: tools without --jinja -> "tools param requires --jinja flag"
        info.problem(f"llama.cpp started without --jinja: tool calls will not be parsed (server "
                     f"said {said!r}); restart llama-server with --jinja (and a tool-aware "
                     "--chat-template-file if the model's template has no tools section)")
    elif "enable-auto-tool-choice" in low or "tool-call-parser" in low:
        info.problem(f"vLLM started without tool calling (server said {said!r}); restart `vllm "
                     "serve` with --enable-auto-tool-choice --tool-call-parser <this model's "
                     "parser, e.g. hermes for Qwen2.5>")
    elif "does not support tools" in low:  # Ollama: "<model> does not support tools" (HTTP 400)
        info.problem(ollama_no_tools(model))
    elif status == 404 and "model" in low:
        info.problem(f"the server does not know model '{model}' (server said {said!r}); "
                     "fix the model id")
    elif "tool" in low:
        info.problem(f"the server rejected a request with tools (HTTP {status}: {said!r})")
    else:
        info.warn(f"the tool probe failed (HTTP {status}: {said!r}); tool support unknown")
        return
    info.tool_support = False


def _text_tool_call(answer: dict[str, Any], info: ServerInfo) -> None:
    """The probe's answer is a tool call written as text: the server does not parse this
    model's tool-call format, and every attempt would end as tool_confusion. Said at start."""
    from pytest_agentbench.agent.parse import find_tool_confusion

    choice = answer["choices"][0] if isinstance(answer["choices"], list) and answer["choices"] else {}
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict) or message.get("tool_calls"):
        return
    found = find_tool_confusion(message.get("content") if isinstance(message.get("content"), str)
                                else None, frozenset({"ping"}))
    if found:
        info.warn(f"the tool probe came back as a tool call written as text ({found}), not a parsed "
                  "tool call: the server does not parse this model's tool calls (llama.cpp: "
                  "--jinja and a tool-aware --chat-template-file; vLLM: the model's "
                  "--tool-call-parser; Ollama: a model with tool support) - expect tool_confusion")


def _error_message(answer: Any) -> str:
    """OpenAI, llama.cpp, vLLM: {"error": {"message"}}; Ollama native: {"error": str};
    older vLLM: {"message"}; FastAPI: {"detail"}; anything else: the text itself."""
    if not isinstance(answer, dict):
        return str(answer)[:300]
    err = answer.get("error")
    text = err.get("message") if isinstance(err, dict) else err
    text = text or answer.get("message") or answer.get("detail") or answer
    return str(text)[:300]


def ollama_num_ctx_note(info: ServerInfo) -> str | None:
    """A warning when Ollama will run the model with its small default context."""
    if info.kind != "ollama" or not info.context_window:
        return None
    if info.context_window > OLLAMA_SMALL_CONTEXT:
        return None
    return (f"Ollama runs '{info.model}' with a {info.context_window}-token context "
            f"({info.context_source}), its small default: on the OpenAI-compatible path it "
            "silently truncates longer prompts (Aider measured 71.4% -> 51.9%), and "
            "/v1/chat/completions ignores options/num_ctx in the request body, so extra_body "
            "cannot fix it. Fix: restart Ollama with OLLAMA_CONTEXT_LENGTH=32768 (or more), or "
            "`ollama create` a model from a Modelfile with `PARAMETER num_ctx 32768` and "
            "benchmark that name.")
