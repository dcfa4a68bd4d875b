"""CI gates on pass rates: ``--agentbench-fail-under [SCOPE:]RATE``.

SCOPE is a tier (``heavy:0.8``), a model name (``qwen2.5:14b:0.5`` — the rate is what follows the
last colon), or nothing for every attempt. With ``--agentbench-gate lower`` the Wilson interval's
lower bound must clear the rate, so three lucky attempts don't pass a 0.8 gate. A gate whose
scope holds no scored attempt is an error, never a pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_agentbench.canary import TIERS
from pytest_agentbench.results import AttemptResult
from pytest_agentbench.stats import wilson_interval


class GateError(ValueError):
    """A gate specification that cannot be understood."""


@dataclass(frozen=True)
class Gate:
    scope: str | None  # None: all attempts; a tier name; or a model name
    threshold: float

    @property
    def label(self) -> str:
        return f"{self.scope + ' ' if self.scope else ''}pass rate >= {self.threshold:g}"

    def select(self, results: list[AttemptResult]) -> list[AttemptResult]:
        if self.scope is None:
            return results
        key = "tier" if self.scope in TIERS else "model"
        return [r for r in results if getattr(r, key) == self.scope]


@dataclass
class GateResult:
    gate: Gate
    n: int
    c: int
    value: float | None  # the measured rate (point or lower bound); None for no data
    ok: bool
    message: str


def parse_gate(text: str) -> Gate:
    scope, _, rate = text.rpartition(":")
    try:
        threshold = float(rate)
    except ValueError:
        raise GateError(f"--agentbench-fail-under: {text!r}: expected [SCOPE:]RATE, e.g. 0.8 or heavy:0.8") from None
    if not 0 <= threshold <= 1:
        raise GateError(f"--agentbench-fail-under: {text!r}: the rate must be between 0 and 1")
    return Gate(scope or None, threshold)


def evaluate(gate: Gate, results: list[AttemptResult], mode: str = "point",
             confidence: float = 0.95) -> GateResult:
    scored = [r for r in gate.select(results) if r.outcome != "infra_error"]
    n, c = len(scored), sum(r.outcome == "passed" for r in scored)
    if n == 0:
        return GateResult(gate, 0, 0, None, False,
                          f"FAILED {gate.label}: no scored attempts in scope - a gate on 0 attempts is an error")
    if mode == "lower":
        value = wilson_interval(c, n, confidence)[0]
        what = f"lower {confidence * 100:g}% bound {value:.3f}"
    else:
        value = c / n
        what = f"pass rate {value:.3f}"
    ok = value >= gate.threshold
    verdict = "passed" if ok else "FAILED"
    shortfall = "" if ok else f", short by {gate.threshold - value:.3f}"
    return GateResult(gate, n, c, value, ok, f"{verdict} {gate.label}: {what} ({c}/{n}){shortfall}")
