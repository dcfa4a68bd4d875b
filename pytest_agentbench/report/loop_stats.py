"""Per model (× variant × tier) totals of the loop's own counters: tool calls and errors per tool,
batch sizes, the share of turns that carried a call, completion tokens spent reasoning or in turns
that called nothing, the harness's nudges and refused calls, and which ceilings ended attempts.
Shared by the JSON aggregates, the terminal and the HTML report."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pytest_agentbench.schemas.results import AttemptResult


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def loop_stats(results: list[AttemptResult]) -> dict[str, Any]:
    """Totals over ``results`` (the scored attempts of one aggregate row)."""
    calls: Counter = Counter()
    errors: Counter = Counter()
    batches: Counter = Counter()
    nudges: Counter = Counter()
    for r in results:
        for name, counts in r.tool_stats.items():
            calls[name] += counts.get("calls", 0)
            errors[name] += counts.get("errors", 0)
        batches.update({int(size): count for size, count in r.batch_sizes.items()})
        nudges.update(r.nudges)
    turns = sum(r.turns for r in results)
    completion = sum(r.completion_tokens for r in results)
    idle_tokens = sum(r.completion_tokens_without_tool_calls for r in results)
    reasoning = sum(r.reasoning_tokens for r in results)
    replies_with_calls = sum(batches.values())
    # Measured once per endpoint per process: the attempts differ only across xdist workers.
    speeds = [r.decode_tokens_per_second for r in results if r.decode_tokens_per_second]
    return {
        "tool_stats": {name: {"calls": calls[name], "errors": errors[name]} for name in sorted(calls)},
        "tool_call_turn_share": _share(sum(r.turns_with_tool_calls for r in results), turns),
        "batch_sizes": {str(size): batches[size] for size in sorted(batches)},
        "mean_batch_size": _share(sum(size * n for size, n in batches.items()), replies_with_calls),
        "max_batch_size": max(batches, default=0),
        "completion_tokens_without_tool_calls": idle_tokens,
        "completion_tokens_without_tool_calls_share": _share(idle_tokens, completion),
        "reasoning_tokens": reasoning,
        "reasoning_share": _share(reasoning, completion),
        "reasoning_tokens_estimated": any(r.reasoning_tokens_estimated for r in results),
        "nudges": dict(sorted(nudges.items())),
        "nudges_per_attempt": _share(sum(nudges.values()), len(results)),
        "refused_tool_calls": sum(r.refused_tool_calls for r in results),
        "limits_hit": dict(sorted(Counter(r.limit_hit for r in results if r.limit_hit).items())),
        "decode_tokens_per_second": round(sum(speeds) / len(speeds), 2) if speeds else None,
    }


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def loop_stats_line(stats: dict[str, Any]) -> str:
    """One terminal line: ``tools read_file 12 (1 err), write_file 3 · calls in 64% of turns ·
    batch <=3 · 420 completion tokens without a call (12%) · reasoning 30% · nudges 0.33/attempt``."""
    tools = ", ".join(f"{name} {c['calls']}" + (f" ({c['errors']} err)" if c["errors"] else "")
                      for name, c in stats["tool_stats"].items()) or "none"
    parts = [f"tools {tools}", f"calls in {_percent(stats['tool_call_turn_share'])} of turns"]
    if stats["max_batch_size"] > 1:
        parts.append(f"batch <={stats['max_batch_size']} (mean {stats['mean_batch_size']:.1f})")
    parts.append(f"{stats['completion_tokens_without_tool_calls']} completion tokens without a call "
                 f"({_percent(stats['completion_tokens_without_tool_calls_share'])})")
    if stats["reasoning_tokens"]:
        estimated = " est." if stats["reasoning_tokens_estimated"] else ""
        parts.append(f"reasoning {stats['reasoning_tokens']} tokens{estimated} "
                     f"({_percent(stats['reasoning_share'])})")
    if stats["nudges"]:
        kinds = ", ".join(f"{k} {v}" for k, v in stats["nudges"].items())
        parts.append(f"nudges {stats['nudges_per_attempt']:.2f}/attempt ({kinds})")
    if stats["refused_tool_calls"]:
        parts.append(f"{stats['refused_tool_calls']} calls refused (batch limit)")
    return " · ".join(parts)
