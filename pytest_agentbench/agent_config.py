"""How a model's registry settings (models.ModelSpec) become what the client sends and what the
loop does, once the server behind it is known: ``think``/``think_level`` in the server's own
spelling (servers/thinking.py), the loop's knobs, the time-budget mode and the decode-speed meter."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import httpx

from pytest_agentbench.agent.time_budget import SpeedMeter
from pytest_agentbench.client import ClientSettings
from pytest_agentbench.models import ModelSpec
from pytest_agentbench.servers.preflight import ServerInfo
from pytest_agentbench.servers.speed_probe import measure_decode_speed
from pytest_agentbench.servers.thinking import ThinkingUnsupported, merge_body, thinking_fields

if TYPE_CHECKING:
    from pytest_agentbench.session import Settings


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


def probe_speed(model: ModelSpec, meter: SpeedMeter, headers: dict[str, str], timeout: float,
                server_info: dict | None, base_url: str | None = None) -> None:
    """Measure the endpoint's decode speed once (scaled budgets) and record it with its server."""
    with httpx.Client(headers=headers) as http:
        problem = measure_decode_speed(http, base_url or model.base_url, model.model, meter, timeout)
    if server_info is not None:
        # The probe's short prompt: the fastest this endpoint decodes (attempts record the speed
        # their budget used, which the first agent turn may have lowered).
        server_info["probe_tokens_per_second"] = meter.tokens_per_second
        if problem:
            server_info.setdefault("warnings", []).append(problem)
