"""Independent repeats: every repeat sends its own sampling seed, and a run
at temperature 0 says loudly that its repeats can only differ by the server's nondeterminism.

The rule: repeat ``r`` of a model sends ``seed = (its registry seed, 0 when unset) + r`` in every
request of the attempt (``ModelSpec.repeat_seed``), so repeats at a temperature above 0 are
different samples and a rerun reproduces each of them. ``seed_per_repeat = false`` in the
registry pins one seed for every repeat on purpose. A seed changes nothing at temperature 0:
greedy decoding picks the most likely token whatever the seed, and what is left to differ between
repeats is batching noise (llama.cpp's prefix cache changes the batch a prompt is processed in).

The agent loop puts the seed into each request body before any ``pytest_agentbench_request``
hook runs, so a ``conftest.py`` hook still has the last word over the body. The prefix cache is left alone: across
the turns of one attempt it is what makes long conversations affordable (a measured 10x), and
across repeats it reuses the shared prompt's keys and values, never a generation.
"""

from __future__ import annotations

from pytest_agentbench.schemas.models import ModelSpec


def greedy_models(models: list[ModelSpec]) -> list[ModelSpec]:
    """The models (variants) that decode greedily: their repeats cannot be independent."""
    return [model for model in models
            if model.temperature == 0 and (model.agent == "builtin" or "temperature" in model.variant_settings)]


def _label(model: ModelSpec) -> str:
    return model.name if model.variant == "base" else f"{model.name}/{model.variant}"


def _external_sampling(model: ModelSpec) -> str:
    """What an external agent's requests carry: its own sampling, but what the variant sets."""
    sent = {key: getattr(model, key) for key in model.variant_settings
            if key in ("temperature", "top_p", "seed", "max_tokens")}
    if not sent:
        return "sampling: the agent's own (no temperature or seed sent by the harness)"
    return ("sampling: the agent's own, with " + ", ".join(f"{k} {v}" for k, v in sent.items())
            + " set on each request by the recording proxy")


def sampling_lines(models: list[ModelSpec], repeats: int) -> list[str]:
    """Header and summary lines: each model's temperature and seed rule, and a loud note for
    those at temperature 0 (when more than one repeat runs: one repeat compares with nothing)."""
    lines = [f"agentbench: {_label(m)}: temperature {m.temperature:g}, {m.seed_rule()}" if m.agent == "builtin"
             else f"agentbench: {_label(m)} via {m.agent}: {_external_sampling(m)}" for m in models]
    greedy = greedy_models(models)
    if greedy and repeats > 1:
        names = ", ".join(_label(m) for m in greedy)
        lines.append(
            f"agentbench: WARNING: temperature 0 ({names}): greedy decoding ignores the seed, so the "
            f"{repeats} repeats differ only by server nondeterminism (batching, prefix cache) and "
            "are not independent samples; set temperature > 0 in the registry, or "
            "--agentbench-sweep temperature=0.7, for independent repeats")
    return lines
