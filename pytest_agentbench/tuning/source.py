"""A run that a tuning run builds on (``--agentbench-all-on RUN_ID|last``,
``--agentbench-ceilings RUN_ID|last``): its models, canaries, variants and attempts, read from
the results database (records/store.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.records.store import ResultStore, StoreError
from pytest_agentbench.schemas.models import ModelConfigError, ModelSpec, resolve_models
from pytest_agentbench.schemas.results import AttemptResult


class SourceError(AgentbenchError, ValueError):
    """A source run that cannot be used; the message names the option and the run."""


@dataclass
class SourceRun:
    run_id: str
    settings: dict[str, Any]
    models: dict[str, dict[str, Any]]  # the run's record: describe() + base_url per model name
    canaries: list[str]
    attempts: list[AttemptResult] = field(default_factory=list)

    @property
    def tuning(self) -> dict[str, dict[str, Any]]:
        return self.settings.get("tuning") or {}

    @property
    def variants(self) -> dict[str, dict[str, Any]]:
        return self.settings.get("variants") or {"base": {}}


def load_source(db_path: Path, ref: str, option: str) -> SourceRun:
    """The run ``ref`` names (``last``: the latest run holding attempts, never the one starting)."""
    if not db_path.is_file():
        raise SourceError(f"{option} {ref}: no results database at {db_path} (run the source "
                          "run first, or pass --agentbench-db)")
    try:
        with ResultStore(db_path) as store:
            run_id = store.resolve(ref, with_attempts=True)
            record = store.run(run_id)
            assert record is not None  # resolve found it
            return SourceRun(run_id, record.settings, record.models, store.plan(run_id)["canaries"],
                             store.attempts(run_id))
    except StoreError as exc:
        raise SourceError(f"{option}: {exc}") from None


def source_models(source: SourceRun, registry: dict[str, ModelSpec], default_base_url: str,
                  wanted: list[str], option: str) -> list[ModelSpec]:
    """The source run's models on the source run's endpoints: a registry entry keeps its own
    settings (a managed server is started again), any other model its endpoint and model id.
    ``wanted`` (``--models``, optional) narrows them to some."""
    names = sorted(source.models)
    unknown = [name for name in wanted if name.partition("@")[0] not in names]
    if unknown:
        raise SourceError(f"{option} {source.run_id}: --models {', '.join(unknown)}: not in that run "
                          f"(it ran {', '.join(names)})")
    chosen = [name for name in names if not wanted or name in [w.partition("@")[0] for w in wanted]]
    entries = []
    for name in chosen:
        record = source.models[name]
        managed = record.get("managed_server") or record.get("endpoints")
        entries.append(name if managed or not record.get("base_url") else f"{name}@{record['base_url']}")
    try:
        models = resolve_models(entries, default_base_url, registry)
    except ModelConfigError as exc:
        raise SourceError(f"{option} {source.run_id}: {exc}") from None
    for model in models:
        record = source.models[model.name]
        if model.name not in registry:  # what the run's record keeps of an unregistered model
            model.model = record.get("model") or model.model
            model.temperature = record.get("temperature", model.temperature)
            model.max_tokens = record.get("max_tokens", model.max_tokens)
    return models
