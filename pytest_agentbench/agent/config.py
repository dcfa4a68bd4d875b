"""How a model's registry settings (models.ModelSpec) become what the client sends and what the
loop does, once the server behind it is known: ``think``/``think_level`` in the server's own
spelling (servers/thinking.py), the loop's knobs, the time-budget mode and the decode-speed meter."""

from __future__ import annotations

import dataclasses
import warnings
import weakref
from typing import TYPE_CHECKING, Any

import pytest

from pytest_agentbench.agent.time_budget import SpeedMeter
from pytest_agentbench.schemas.models import ModelSpec
from pytest_agentbench.servers.client import ClientSettings
from pytest_agentbench.servers.http import http_client
from pytest_agentbench.servers.preflight import ServerInfo
from pytest_agentbench.servers.speed_probe import measure_decode_speed
from pytest_agentbench.servers.thinking import ThinkingUnsupported, merge_body, thinking_fields

if TYPE_CHECKING:
    from pytest_agentbench.run.session import Settings


def thinking_problem(kind: str | None, model: ModelSpec) -> str | None:
    try:
        thinking_fields(kind, model.think, model.think_level)
    except ThinkingUnsupported as exc:
        return f"{model.name}: {exc}"
    return None


def with_model_problems(info: ServerInfo, model: ModelSpec) -> ServerInfo:
    """The endpoint's preflight, plus what this model (variant) asks of it that the server cannot
    do - a copy, since the preflight is shared by every variant of the model."""
    problem = thinking_problem(info.kind, model) if info.kind != "unreachable" else None
    if problem is None:
        return info
    return dataclasses.replace(info, problems=[*info.problems, problem])


def client_settings(model: ModelSpec, settings: Settings, kind: str | None,
                    base_url: str | None = None) -> ClientSettings:
    """The client of one model variant on a server of ``kind`` (None: not probed; treated as a
    generic OpenAI-compatible server)."""
    thinking = thinking_fields(kind, model.think, model.think_level)
    thinking = {**thinking, **cache_fields(kind, model, settings)}
    return ClientSettings(
        base_url=base_url or model.base_url,  # a managed server's URL, once started
        model=model.model,
        api_key=model.api_key,
        temperature=model.temperature,
        max_tokens=settings.max_output_tokens or model.max_tokens,
        request_timeout=settings.request_timeout,
        retries=settings.retries,
        backoff=settings.backoff,
        # The registry's own extra_body has the last word over the translated fields.
        extra_body=merge_body(thinking, model.sampling_body()),
        tool_choice=model.tool_choice,
        knobs=model.knobs(settings.time_budget),
    )


# The (model, kind) pairs already warned about an unsupported cache knob, for the session whose
# settings these are: said once per run, not once per attempt (and again in a new run).
_cache_warned: tuple[weakref.ref | None, set[tuple[str, str | None]]] = (None, set())


def _first_cache_warning(settings: Settings, key: tuple[str, str | None]) -> bool:
    global _cache_warned
    owner, seen = _cache_warned
    if owner is None or owner() is not settings:
        owner, seen = weakref.ref(settings), set()
        _cache_warned = (owner, seen)
    if key in seen:
        return False
    seen.add(key)
    return True


def cache_fields(kind: str | None, model: ModelSpec, settings: Settings) -> dict[str, Any]:
    """The ``cache`` knob as the server spells it. Only llama.cpp's llama-server documents a
    per-request switch (tools/server/README.md: ``cache_prompt``, "Re-use KV cache from a previous
    request if possible", default true); elsewhere caching is the server's own affair, so nothing
    is sent and the run warns once that the knob measures nothing there."""
    if model.cache is None:
        return {}
    if kind == "llama.cpp":
        return {"cache_prompt": model.cache}
    if _first_cache_warning(settings, (model.name, kind)):
        warnings.warn(pytest.PytestWarning(
            f"agentbench: {model.name}: cache = {str(model.cache).lower()} is not sent: the server "
            f"({kind or 'not probed'}) has no per-request prompt-cache switch (only llama.cpp's "
            "cache_prompt is supported), so the knob changes nothing there"), stacklevel=2)
    return {}


def probe_speed(model: ModelSpec, meter: SpeedMeter, headers: dict[str, str], timeout: float,
                server_info: dict | None, base_url: str | None = None) -> None:
    """Measure the endpoint's decode speed once (scaled budgets) and record it with its server."""
    with http_client(headers=headers) as http:
        problem = measure_decode_speed(http, base_url or model.base_url, model.model, meter, timeout)
    if server_info is not None:
        # The probe's short prompt: the fastest this endpoint decodes (attempts record the speed
        # their budget used, which the first agent turn may have lowered).
        server_info["probe_tokens_per_second"] = meter.tokens_per_second
        if problem:
            server_info.setdefault("warnings", []).append(problem)
