"""The decode-speed probe behind ``--agentbench-time-budget scaled``: one short generation per
endpoint per process, before its first attempt, so even the first turn of a slow model runs under
the budget its speed earns. It runs after the tool probe, which has made the server load the model,
so its time is generation time. Its prompt is short, so it measures the fastest the endpoint
decodes; the first agent turn, at a real context, lowers the speed when it is slower
(agent/time_budget.py SpeedMeter). If the probe tells nothing (an error, too few tokens), the
first turn alone decides."""

from __future__ import annotations

import time

import httpx

from pytest_agentbench.agent.time_budget import SpeedMeter
from pytest_agentbench.servers.client import InfraError, parse_chat_response

PROBE_PROMPT = "Count from 1 to 100 in words, separated by commas. Reply with the list only."
PROBE_MAX_TOKENS = 64


def probe_body(model: str) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": PROBE_PROMPT}],
            "max_tokens": PROBE_MAX_TOKENS, "temperature": 0, "stream": False}


def is_probe(body: dict) -> bool:
    """Whether a request is this probe (tests tell it from the agent's own requests)."""
    messages = body.get("messages") or []
    return len(messages) == 1 and messages[0].get("content") == PROBE_PROMPT


def measure_decode_speed(http: httpx.Client, base_url: str, model: str, meter: SpeedMeter,
                         timeout: float) -> str | None:
    """Feed ``meter`` from one probe generation; returns why it could not, or None."""
    started = time.monotonic()
    try:
        answer = http.post(base_url.rstrip("/") + "/chat/completions", json=probe_body(model),
                           timeout=timeout)
        response = parse_chat_response(answer.json(), time.monotonic() - started)
    except (httpx.HTTPError, ValueError, InfraError) as exc:
        return f"the decode-speed probe failed ({type(exc).__name__}: {exc}); measuring the first turn"
    meter.record_response(response.completion_tokens, response.seconds, response.timings,
                          "preflight probe")
    if meter.tokens_per_second is None:
        return "the decode-speed probe generated too few tokens to measure; measuring the first turn"
    return None
