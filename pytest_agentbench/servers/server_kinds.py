"""Per server kind: how preflight reads the version, the effective context window, the chat
template and tool support from each server's own documented endpoints (sources cited inline)."""

from __future__ import annotations

import re
from typing import Any

from pytest_agentbench.servers.server_info import OLLAMA_SMALL_CONTEXT, Entries, Http, ServerInfo


def _pick(entries: Entries, model: str, key: str = "id") -> dict[str, Any]:
    return next((e for e in entries if e.get(key) == model), entries[0] if entries else {})


def _llama_cpp(h: Http, info: ServerInfo, model: str, entries: Entries) -> None:
    # llama.cpp tools/server/README.md: GET /props, GET /slots, GET /v1/models (meta.n_ctx_train).
    # llama-server serves one model whatever name a request gives, so the id is not checked.
    props = h.json("/props") or {}
    info.version = props.get("build_info")
    if isinstance(props.get("total_slots"), int):  # -np: requests it decodes at once
        info.slots = props["total_slots"]
    path = props.get("model_alias") or props.get("model_path") or _pick(entries, model).get("id")
    info.model = str(path).rsplit("/", 1)[-1] if path else None
    n_ctx = (props.get("default_generation_settings") or {}).get("n_ctx")
    info.context_source = "/props default_generation_settings.n_ctx (per slot)"
    if not isinstance(n_ctx, int):
        slots = h.json("/slots")
        first = slots[0] if isinstance(slots, list) and slots else None
        n_ctx = first.get("n_ctx") if isinstance(first, dict) else None
        info.context_source = "/slots[0].n_ctx"
    meta = _pick(entries, model).get("meta") or {}
    if not isinstance(n_ctx, int) and isinstance(meta.get("n_ctx"), int):  # newer builds
        n_ctx, info.context_source = meta["n_ctx"], "/v1/models meta.n_ctx"
    train = meta.get("n_ctx_train")
    if isinstance(n_ctx, int):
        info.context_window = n_ctx
        if isinstance(train, int) and n_ctx < train:
            info.warn(f"llama-server gives each request {n_ctx} tokens of context (the model was "
                      f"trained for {train}); raise -c if canaries need more (-np splits it)")
    elif isinstance(train, int):
        info.context_window = train
        info.context_source = "/v1/models meta.n_ctx_train (trained, not effective)"
        info.warn("llama-server did not report its per-slot n_ctx; using the trained context")
    caps = props.get("chat_template_caps") or {}
    info.chat_template = _template_hint(str(props.get("chat_template") or ""), caps)
    if caps.get("supports_tools") is False:
        # Measured with SmolLM2's own template: a request with one tool had 35 prompt tokens (the
        # tool never reached the model), 117 with a tool-aware template. Not the model's fault.
        info.tool_support = False
        info.problem("llama-server's chat template has no tools section (/props chat_template_caps"
                     ".supports_tools is false): the tools never reach the prompt; restart it with "
                     "--jinja --chat-template-file <a tool-aware template>")


def _template_hint(template: str, caps: dict[str, Any]) -> str | None:
    markers = {"<|im_start|>": "chatml", "<|start_header_id|>": "llama3", "[INST]": "mistral",
               "<start_of_turn>": "gemma", "<|channel|>": "harmony", "<tool_call>": "<tool_call>"}
    found = [name for marker, name in markers.items() if marker in template]
    flags = [k.removeprefix("supports_") for k, v in caps.items() if v is True and "tool" in k]
    hint = " + ".join(found) + (f" (caps: {', '.join(flags)})" if flags else "")
    return hint.strip()[:200] or None


def _ollama(h: Http, info: ServerInfo, model: str, entries: Entries) -> None:
    # Ollama docs/openapi.yaml: GET /api/version, POST /api/show (ShowResponse.capabilities,
    # parameters as text, template), GET /api/ps (Ps.context_length).
    info.version = (h.json("/api/version") or {}).get("version")
    got = h.post("/api/show", {"model": model})
    show = got[1] if got and got[0] == 200 and isinstance(got[1], dict) else {}
    h.cache["show"] = (200, show)  # kept for ollama_context, after the probe
    if got and got[0] == 404:
        info.problem(f"Ollama has no model '{model}': run `ollama pull {model}` or fix the id")
    caps = show.get("capabilities")
    if isinstance(caps, list):
        info.tool_support = "tools" in caps
        if not info.tool_support:
            info.problem(ollama_no_tools(model))
    family = (show.get("details") or {}).get("family")
    if show.get("template"):
        info.chat_template = "Ollama Go template" + (f", family {family}" if family else "")


def ollama_no_tools(model: str) -> str:
    return (f"Ollama model '{model}' does not support tools (no 'tools' capability: its template "
            "has no tools section); use a model whose ollama.com page lists 'tools', or a "
            "Modelfile TEMPLATE with tools")


def ollama_context(h: Http, info: ServerInfo, model: str) -> None:
    """The loaded context (/api/ps), else num_ctx in /api/show parameters, else Ollama's default.
    Requests on /v1 cannot change it: docs/api/openai-compatibility.mdx "Setting the context
    size", and openai/openai.go's ChatCompletionRequest has no options or num_ctx field."""
    h.cache.pop("/api/ps", None)
    for entry in (h.json("/api/ps") or {}).get("models") or []:
        name = str(entry.get("name") or entry.get("model"))
        same = name in (model, f"{model}:latest") or model == f"{name}:latest"
        if same and isinstance(entry.get("context_length"), int):
            info.context_window = entry["context_length"]
            info.context_source = "/api/ps context_length"
            return
    show = (h.cache.get("show") or (200, {}))[1]
    match = re.search(r"^num_ctx\s+(\d+)", str(show.get("parameters") or ""), re.MULTILINE)
    if match:
        info.context_window = int(match.group(1))
        info.context_source = "/api/show parameters num_ctx"
        return
    # Default: 2048 before v0.6.7, then 4096; from v0.15.5 4096/32768/262144 by VRAM
    # (docs/context-length.mdx), so 4096 is the safe lower bound until the model is loaded.
    old = _version_tuple(info.version) < (0, 6, 7)
    info.context_window = 2048 if old else OLLAMA_SMALL_CONTEXT
    info.context_source = f"Ollama {info.version} default (model not loaded, no num_ctx)"


def _version_tuple(version: str | None) -> tuple[int, ...]:
    nums = [int(n) for n in re.findall(r"\d+", (version or "").split("-")[0])[:3]]
    return tuple(nums) if any(nums) else (999,)  # unknown or 0.0.0 dev build: assume newest


def _vllm(h: Http, info: ServerInfo, model: str, entries: Entries) -> None:
    # vLLM entrypoints/openai/api_server.py: GET /version -> {"version": ...}; ModelCard's
    # max_model_len is the served context (--max-model-len). The tool parser is not exposed:
    # the probe tests it.
    info.version = (h.json("/version") or {}).get("version")
    _check_listed(info, model, entries)
    entry = _pick(entries, model)
    info.model = entry.get("id")
    if isinstance(entry.get("max_model_len"), int):
        info.context_window = entry["max_model_len"]
        info.context_source = "/v1/models max_model_len"


def _check_listed(info: ServerInfo, model: str, entries: Entries) -> None:
    ids = [str(e.get("id")) for e in entries]
    if ids and model not in ids:
        info.warn(f"model '{model}' is not among the served models {ids[:8]}: check the model id")


def lmstudio_v1(h: Http) -> Entries | None:
    body = h.json("/api/v1/models")  # LM Studio docs 1_developer/_2_rest/list.md (0.4+)
    models = body.get("models") if isinstance(body, dict) else None
    ok = isinstance(models, list) and all(isinstance(m, dict) and "key" in m for m in models)
    return models if ok else None


def lmstudio_v0(h: Http) -> Entries | None:
    body = h.json("/api/v0/models")  # LM Studio docs 1_developer/_2_rest/endpoints.md (0.3.6+)
    data = body.get("data") if isinstance(body, dict) else None
    ok = isinstance(data, list) and data and all(isinstance(m, dict) and "state" in m for m in data)
    return data if ok else None


def lmstudio(h: Http, info: ServerInfo, model: str, entries: Entries) -> None:
    v1 = lmstudio_v1(h)
    if v1 is not None:
        entry = _pick(v1, model, "key")
        loaded = entry.get("loaded_instances") or []
        ctx = (loaded[0].get("config") or {}).get("context_length") if loaded else None
        source = "/api/v1/models loaded_instances[0].config.context_length"
        tools = (entry.get("capabilities") or {}).get("trained_for_tool_use")
    else:  # loaded_context_length: sent for loaded models by 0.3.x, not in the doc's sample
        entry = _pick(lmstudio_v0(h) or [], model)
        ctx, source, tools = entry.get("loaded_context_length"), "/api/v0/models", None
    info.model = entry.get("key") or entry.get("id")
    if isinstance(ctx, int):
        info.context_window, info.context_source = ctx, source
    else:
        info.warn(f"LM Studio has not loaded '{model}': it loads it on the first request with its "
                  f"default context; load it first: `lms load {model} --context-length 32768`")
    if tools is False:
        info.warn(f"LM Studio says '{model}' was not trained for tool use")


# Servers with nothing more to read than /v1/models: what to tell the user about each.
_SIMPLE_WARNINGS = {
    "llama-cpp-python": (
        ("llama-cpp-python's server does not report its context window (n_ctx): set the "
         "model's context_window in the registry"),
        ("llama-cpp-python's chatml-function-calling ignores tools unless tool_choice is sent "
         "and never renders role 'tool' results; prefer llama-server --jinja"),
    ),
    "mlx": (("mlx_lm.server reports neither its version nor its context window: set the "
             "model's context_window in the registry"),),
}


def _simple(h: Http, info: ServerInfo, model: str, entries: Entries) -> None:
    if info.kind == "openai-compatible":  # the others serve their one model under any name
        _check_listed(info, model, entries)
    info.model = _pick(entries, model).get("id")
    for text in _SIMPLE_WARNINGS.get(info.kind, ()):
        info.warn(text)


FILL = {"llama.cpp": _llama_cpp, "ollama": _ollama, "vllm": _vllm, "lmstudio": lmstudio,
         "llama-cpp-python": _simple, "mlx": _simple, "openai-compatible": _simple}
