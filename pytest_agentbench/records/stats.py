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


def cluster_effective_size(clusters: list[tuple[int, int]]) -> float:
    """The effective sample size of a pass rate pooled over clusters (``(n_i, c_i)``: the
    repeats of one canary, which share the canary's difficulty and are not independent).

    The cluster-robust (sandwich, CR1) variance of the pooled rate p = c / n is
    ``k / (k - 1) * sum((c_i - p * n_i)^2) / n^2`` over k clusters; its design effect, that
    variance over the binomial ``p (1 - p) / n``, divides n. It is never taken below 1 (a pooled
    interval is never narrower than one of independent attempts); with one cluster, or a rate of
    0 or 1 (where the data cannot show any correlation), n is returned unchanged. Repeats that are
    perfectly correlated (each canary all-pass or all-fail) leave about k - 1 samples.
    """
    k = len(clusters)
    n = sum(size for size, _ in clusters)
    c = sum(passed for _, passed in clusters)
    if k < 2 or n == 0 or c in (0, n):
        return float(n)
    p = c / n
    robust = k / (k - 1) * sum((passed - p * size) ** 2 for size, passed in clusters) / (n * n)
    design_effect = max(1.0, robust / (p * (1 - p) / n))
    return n / design_effect


def newcombe_difference(base: float, base_interval: tuple[float, float], new: float,
                        new_interval: tuple[float, float]) -> tuple[float, float]:
    """Newcombe's hybrid score interval (1998, method 10) for ``new - base``, built from each
    rate's own interval (Wilson's, or one widened for clustered or identical repeats): at n = 3
    per side it excludes 0 for 0/3 -> 3/3 and not for 1/3 -> 2/3."""
    delta = new - base
    low = delta - math.hypot(new - new_interval[0], base_interval[1] - base)
    high = delta + math.hypot(new_interval[1] - new, base - base_interval[0])
    return (max(-1.0, low), min(1.0, high))


def newcombe_interval(base_c: int, base_n: int, new_c: int, new_n: int,
                      confidence: float = 0.95) -> tuple[float, float]:
    """Newcombe's interval for ``new_c/new_n - base_c/base_n`` from plain Wilson intervals."""
    if not base_n or not new_n:
        return (-1.0, 1.0)
    return newcombe_difference(base_c / base_n, wilson_interval(base_c, base_n, confidence),
                               new_c / new_n, wilson_interval(new_c, new_n, confidence))


def difference_verdict(interval: tuple[float, float]) -> str:
    """``better`` / ``worse`` when the difference's interval excludes 0, else ``no evidence``."""
    if interval[0] > 0:
        return "better"
    return "worse" if interval[1] < 0 else "no evidence"


def stability(n: int, c: int) -> str:
    """How a canary behaves for a model across its repeats."""
    if n == 0:
        return "no-data"
    if c == n:
        return "stable-pass"
    return "stable-fail" if c == 0 else "flaky"
