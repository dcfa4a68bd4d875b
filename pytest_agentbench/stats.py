"""Statistics over repeated attempts — pure functions, tested directly.

pass@k is the unbiased estimator of Chen et al. (2021): the chance that at least one of k
samples drawn without replacement from n attempts (c of them passing) passes. pass^k is the
chance that all k pass. The Wilson score interval stays sensible at n = 3, where the normal
approximation does not.
"""

from __future__ import annotations

import math
from statistics import NormalDist


def pass_at_k(n: int, c: int, k: int) -> float:
    if not 0 <= c <= n or k < 1 or k > n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    if not 0 <= c <= n or k < 1 or k > n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    return math.comb(c, k) / math.comb(n, k)


def wilson_interval(c: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n (n={n}, c={c})")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = c / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def effective_wilson_interval(c: int, n: int, distinct: int,
                              confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's interval around the pass rate ``c / n`` with the sample size of the ``distinct``
    samples among the ``n`` attempts (repeats that were byte-identical count once): the point
    estimate keeps every attempt, the width only what could have come out differently."""
    if distinct >= n or n == 0:
        return wilson_interval(c, n, confidence)
    return wilson_interval(c / n * distinct, distinct, confidence)  # type: ignore[arg-type]


def stability(n: int, c: int) -> str:
    """How a canary behaves for a model across its repeats."""
    if n == 0:
        return "no-data"
    if c == n:
        return "stable-pass"
    return "stable-fail" if c == 0 else "flaky"
