"""Preflight: before any attempt, find out which server runs a model and whether it is set up to
run an agent loop honestly (effective context window, tool calling), and say how to fix it if not.

A misconfigured server (silently truncated context, no tool parser) makes a benchmark lie: every
failure would be counted against the model. Each check reads the server's own documented
endpoints; the source of each parser is cited beside it. Nothing here raises: an unreachable or
odd server gives a ``ServerInfo`` whose ``problems`` say what is wrong and how to fix it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

OLLAMA_SMALL_CONTEXT = 4096  # Ollama's default below 24 GiB VRAM (docs/context-length.mdx)
Entries = list[dict[str, Any]]


@dataclass
class ServerInfo:
    kind: str  # ollama|llama.cpp|llama-cpp-python|lmstudio|vllm|mlx|openai-compatible|unreachable
    version: str | None = None
    model: str | None = None
    context_window: int | None = None  # what the server uses per request, not the trained max
    chat_template: str | None = None  # template family / caps hint, <= 200 chars
    tool_support: bool | None = None
    problems: list[str] = field(default_factory=list)  # fatal, each with its fix
    warnings: list[str] = field(default_factory=list)
    context_source: str | None = None  # the endpoint and field context_window was read from

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # every field is JSON-safe already

    # The capability check and the tool probe may find the same fault: record it once.
    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)


class _Http:
    """GETs and POSTs that never raise: None on a transport failure, else (status, JSON or text).
    GETs are cached because detection and the per-server parsers read the same endpoints."""

    def __init__(self, http: httpx.Client, base_url: str, timeout: float) -> None:
        self.http, self.timeout = http, timeout
        self.base = base_url.rstrip("/")
        self.root = re.sub(r"/v1$", "", self.base)  # native endpoints live beside /v1
        self.cache: dict[str, tuple[int, Any] | None] = {}

    def get(self, path: str) -> tuple[int, Any] | None:
        if path not in self.cache:
            try:
                self.cache[path] = _decode(self.http.get(self.root + path, timeout=self.timeout))
            except httpx.HTTPError:
                self.cache[path] = None
        return self.cache[path]

    def json(self, path: str) -> Any:
        """The body of a 200 JSON answer, else None."""
        got = self.get(path)
        return got[1] if got and got[0] == 200 and not isinstance(got[1], str) else None

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any] | None:
        try:
            return _decode(self.http.post(self.root + path, json=body, timeout=self.timeout))
        except httpx.HTTPError:
            return None


def _decode(response: httpx.Response) -> tuple[int, Any]:
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def preflight(
    base_url: str, model: str, http: httpx.Client, *, timeout: float = 5.0, probe_tools: bool = True
) -> ServerInfo:
    h = _Http(http, base_url, timeout)
    try:  # every kind serves /v1/models, so it doubles as the reachability check
        status, listed = _decode(http.get(h.base + "/models", timeout=timeout))
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
    _FILL[info.kind](h, info, model, entries)
    if probe_tools:
        _probe_tools(h, info, model)
    if info.kind == "ollama":  # after the probe, which made Ollama load the model as /v1 does
        _ollama_context(h, info, model)
    elif info.kind == "lmstudio" and info.context_window is None:  # the probe JIT-loaded it
        h.cache.clear()
        _lmstudio(h, info, model, entries)
    note = ollama_num_ctx_note(info)
    if note:
        info.warn(note)
    return info


def _unreachable(problem: str) -> ServerInfo:
    return ServerInfo("unreachable", problems=[problem])


def _detect(h: _Http, entries: Entries) -> str:
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
    if _lmstudio_v1(h) is not None or _lmstudio_v0(h) is not None:
        return "lmstudio"
    # mlx_lm/server.py: /v1/models entries are {id, object, created} (no owned_by), /health says
    # {"status": "ok"}, and an unknown path gets http.server's plain-text "Not Found".
    other = h.get("/props")
    if (entries and all("created" in e and "owned_by" not in e for e in entries)
            and h.json("/health") == {"status": "ok"} and other and isinstance(other[1], str)):
        return "mlx"
    return "openai-compatible"


def _pick(entries: Entries, model: str, key: str = "id") -> dict[str, Any]:
    return next((e for e in entries if e.get(key) == model), entries[0] if entries else {})


def _llama_cpp(h: _Http, info: ServerInfo, model: str, entries: Entries) -> None:
    # llama.cpp tools/server/README.md: GET /props, GET /slots, GET /v1/models (meta.n_ctx_train).
    # llama-server serves one model whatever name a request gives, so the id is not checked.
    props = h.json("/props") or {}
    info.version = props.get("build_info")
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


def _ollama(h: _Http, info: ServerInfo, model: str, entries: Entries) -> None:
    # Ollama docs/openapi.yaml: GET /api/version, POST /api/show (ShowResponse.capabilities,
    # parameters as text, template), GET /api/ps (Ps.context_length).
    info.version = (h.json("/api/version") or {}).get("version")
    got = h.post("/api/show", {"model": model})
    show = got[1] if got and got[0] == 200 and isinstance(got[1], dict) else {}
    h.cache["show"] = (200, show)  # kept for _ollama_context, after the probe
    if got and got[0] == 404:
        info.problem(f"Ollama has no model '{model}': run `ollama pull {model}` or fix the id")
    caps = show.get("capabilities")
    if isinstance(caps, list):
        info.tool_support = "tools" in caps
        if not info.tool_support:
            info.problem(_ollama_no_tools(model))
    family = (show.get("details") or {}).get("family")
    if show.get("template"):
        info.chat_template = "Ollama Go template" + (f", family {family}" if family else "")


def _ollama_no_tools(model: str) -> str:
    return (f"Ollama model '{model}' does not support tools (no 'tools' capability: its template "
            "has no tools section); use a model whose ollama.com page lists 'tools', or a "
            "Modelfile TEMPLATE with tools")


def _ollama_context(h: _Http, info: ServerInfo, model: str) -> None:
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


def _vllm(h: _Http, info: ServerInfo, model: str, entries: Entries) -> None:
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


def _lmstudio_v1(h: _Http) -> Entries | None:
    body = h.json("/api/v1/models")  # LM Studio docs 1_developer/_2_rest/list.md (0.4+)
    models = body.get("models") if isinstance(body, dict) else None
    ok = isinstance(models, list) and all(isinstance(m, dict) and "key" in m for m in models)
    return models if ok else None


def _lmstudio_v0(h: _Http) -> Entries | None:
    body = h.json("/api/v0/models")  # LM Studio docs 1_developer/_2_rest/endpoints.md (0.3.6+)
    data = body.get("data") if isinstance(body, dict) else None
    ok = isinstance(data, list) and data and all(isinstance(m, dict) and "state" in m for m in data)
    return data if ok else None


def _lmstudio(h: _Http, info: ServerInfo, model: str, entries: Entries) -> None:
    v1 = _lmstudio_v1(h)
    if v1 is not None:
        entry = _pick(v1, model, "key")
        loaded = entry.get("loaded_instances") or []
        ctx = (loaded[0].get("config") or {}).get("context_length") if loaded else None
        source = "/api/v1/models loaded_instances[0].config.context_length"
        tools = (entry.get("capabilities") or {}).get("trained_for_tool_use")
    else:  # loaded_context_length: sent for loaded models by 0.3.x, not in the doc's sample
        entry = _pick(_lmstudio_v0(h) or [], model)
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
         "and never renders role 'tool' results (DESIGN §7); prefer llama-server --jinja"),
    ),
    "mlx": (("mlx_lm.server reports neither its version nor its context window: set the "
             "model's context_window in the registry"),),
}


def _simple(h: _Http, info: ServerInfo, model: str, entries: Entries) -> None:
    if info.kind == "openai-compatible":  # the others serve their one model under any name
        _check_listed(info, model, entries)
    info.model = _pick(entries, model).get("id")
    for text in _SIMPLE_WARNINGS.get(info.kind, ()):
        info.warn(text)


_FILL = {"llama.cpp": _llama_cpp, "ollama": _ollama, "vllm": _vllm, "lmstudio": _lmstudio,
         "llama-cpp-python": _simple, "mlx": _simple, "openai-compatible": _simple}

PROBE_TOOL = {"type": "function", "function": {
    "name": "ping", "description": "Answer a ping.",
    "parameters": {"type": "object", "properties": {}}}}


def _probe_tools(h: _Http, info: ServerInfo, model: str) -> None:
    """One tiny request shaped like the agent's (tools, tool_choice "auto"): a server that cannot
    take tools rejects it with a telling message, which becomes a problem with its fix."""
    body = {"model": model, "messages": [{"role": "user", "content": "Call the ping tool."}],
            "tools": [PROBE_TOOL], "tool_choice": "auto", "max_tokens": 16, "temperature": 0,
            "stream": False}
    wait = h.timeout * 12  # a first request may have to load the model
    try:
        status, answer = _decode(h.http.post(h.base + "/chat/completions", json=body, timeout=wait))
    except httpx.TimeoutException:
        info.warn(f"the tool probe got no answer within {wait:g}s (model still loading?)")
        return
    except httpx.HTTPError as exc:
        info.problem(f"the server dropped the tool probe ({type(exc).__name__}: {exc})")
        return
    if status == 200 and isinstance(answer, dict) and answer.get("choices"):
        info.tool_support = info.tool_support is not False
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
        info.problem(_ollama_no_tools(model))
    elif status == 404 and "model" in low:
        info.problem(f"the server does not know model '{model}' (server said {said!r}); "
                     "fix the model id")
    elif "tool" in low:
        info.problem(f"the server rejected a request with tools (HTTP {status}: {said!r})")
    else:
        info.warn(f"the tool probe failed (HTTP {status}: {said!r}); tool support unknown")
        return
    info.tool_support = False


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
