"""Time budgets that scale with a model's decode speed ("a different fixed limit starved
the slow model on time").

``fixed``: the canary's seconds, for every model. ``scaled``: the canary's seconds are what a
model decoding at :data:`REFERENCE_TOKENS_PER_SECOND` needs; a slower model gets proportionally
more (half as fast, twice the time), a faster one keeps the canary's seconds (tools and checks do
not speed up with the model), and no model gets more than :data:`MAX_SCALE` times. The
per-request timeout scales by the same factor. The speed is the endpoint's, measured once per
process (a preflight probe, then the first agent turn when that is slower) and shared by every
attempt on it, so the attempts of a model get the same budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A 7-14B model on a laptop GPU or Apple silicon decodes at 20-40 tokens/s; the built-in
# canaries' seconds were sized for the low end of that.
REFERENCE_TOKENS_PER_SECOND = 20.0
MAX_SCALE = 10.0  # bounds the run time a mis-measured (or hopeless) endpoint can cost
MIN_MEASURED_TOKENS = 16  # fewer decoded tokens say little about the speed
MODES = ("fixed", "scaled")


def scale_for(tokens_per_second: float) -> float:
    return min(MAX_SCALE, max(1.0, REFERENCE_TOKENS_PER_SECOND / tokens_per_second))


@dataclass
class SpeedMeter:
    """One endpoint's decode speed: the preflight probe's, lowered by the first agent turn's when
    that is slower (decoding slows as the context grows: measured on SmolLM2-135M with 2 CPU
    threads, 145 tokens/s for the probe's short prompt, 45 at a first turn's 1,386-token
    prompt). Then it is fixed: budgets must not drift from attempt to attempt with the noise of
    later turns, and a budget only ever grows within an attempt."""

    tokens_per_second: float | None = None
    source: str | None = None
    probed: bool = False  # the preflight probe has run (servers/speed_probe.py)
    turn_measured: bool = False  # an agent turn has been measured: the speed is final

    def record(self, tokens: float, seconds: float, source: str, from_turn: bool = False) -> None:
        if self.turn_measured or tokens < MIN_MEASURED_TOKENS or seconds <= 0:
            return
        if not from_turn and self.tokens_per_second is not None:
            return
        self.turn_measured = from_turn
        speed = round(tokens / seconds, 2)
        if self.tokens_per_second is None or speed < self.tokens_per_second:
            self.tokens_per_second, self.source = speed, source

    def record_response(self, completion_tokens: int | None, seconds: float,
                        timings: dict[str, Any], where: str) -> None:
        """From one reply: the server's own decode timings (llama.cpp ``timings.predicted_n`` /
        ``predicted_ms``) when it sends them, else completion tokens over the request's wall time
        (which includes prompt processing: a lower speed, so more time - never less)."""
        turn = where != "preflight probe"
        n, ms = timings.get("predicted_n"), timings.get("predicted_ms")
        if isinstance(n, (int, float)) and isinstance(ms, (int, float)) and n > 0 and ms > 0:
            self.record(float(n), ms / 1000, f"{where}: server timings", turn)
        elif completion_tokens:
            self.record(float(completion_tokens), seconds, f"{where}: completion tokens / request time",
                        turn)


class TimeBudget:
    """One attempt's time budget and per-request timeout, per try (each try gets the full budget)."""

    def __init__(self, base_seconds: float, mode: str, meter: SpeedMeter, request_timeout: float) -> None:
        self.base_seconds, self.mode, self.meter = base_seconds, mode, meter
        self.base_request_timeout = request_timeout
        self.started = 0.0

    @property
    def scaled(self) -> bool:
        return self.mode == "scaled"

    @property
    def scale(self) -> float:
        """The factor in force: 1 for fixed; until the speed is known, the most a scaled budget
        can become, so that the first turn of a slow model is not cut by a limit meant for a
        fast one."""
        if not self.scaled:
            return 1.0
        speed = self.meter.tokens_per_second
        return MAX_SCALE if speed is None else scale_for(speed)

    @property
    def seconds(self) -> float:
        return self.base_seconds * self.scale

    @property
    def request_timeout(self) -> float:
        return self.base_request_timeout * self.scale

    @property
    def deadline(self) -> float:
        return self.started + self.seconds

    def describe(self) -> str:
        """``300s``, or ``600s (300s x 2.00: 10 tokens/s measured, reference 20)``."""
        if not self.scaled:
            return f"{self.base_seconds:g}s"
        speed = self.meter.tokens_per_second
        why = (f"{speed:g} tokens/s measured, reference {REFERENCE_TOKENS_PER_SECOND:g}" if speed
               else "speed not measured yet")
        return f"{self.seconds:g}s ({self.base_seconds:g}s x {self.scale:.2f}: {why})"

    def record(self) -> dict[str, Any]:
        """The attempt's fields (results.AttemptResult): what budget it ran under, and why."""
        return {"time_budget_mode": self.mode, "time_budget_seconds": round(self.seconds, 3),
                "time_budget_scale": round(self.scale, 4),
                "decode_tokens_per_second": self.meter.tokens_per_second,
                "decode_speed_source": self.meter.source}
