"""Registry model names → clients, the way the attempt's own model gets one (session.client_for,
a managed server started on first use). The session owns one :class:`JudgeModels` (made when it
starts, startup.py); each attempt hands it to verification in its ``CheckSetup``, since judge
checks are the only part of verification that needs a model. Without one (``agentbench
validate``) judge checks are not run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pytest_agentbench.judging.ask import JudgeUnavailable

if TYPE_CHECKING:
    from pytest_agentbench.client import ChatClient
    from pytest_agentbench.models import ModelSpec
    from pytest_agentbench.session import AgentbenchSession

class JudgeModels:
    def __init__(self, session: AgentbenchSession, rootdir: Path) -> None:
        self.session, self.rootdir = session, rootdir
        self._registry: dict[str, ModelSpec] | None = None

    def spec(self, name: str) -> ModelSpec:
        # --models first (it may give an endpoint: NAME@URL), then the registry.
        for model in self.session.settings.models:
            if model.name == name:
                return model
        if self._registry is None:
            from pytest_agentbench.models import ModelConfigError, load_registry

            try:
                self._registry = load_registry(self.rootdir)
            except ModelConfigError as exc:
                raise JudgeUnavailable(str(exc)) from None
        if name not in self._registry:
            raise JudgeUnavailable(f"model {name!r} is neither in the model registry of "
                                   f"{self.rootdir} nor given with --models")
        spec = self._registry[name]
        if not (spec.base_url or spec.server or spec.endpoints):
            raise JudgeUnavailable(f"model {name!r} has no base_url, server or endpoints in the registry")
        spec.model = spec.model or name
        return spec

    def client(self, name: str) -> ChatClient:
        return self.client_for(self.spec(name))

    def client_for(self, spec: ModelSpec) -> ChatClient:
        """A client for ``spec`` (a registry model, or the attempt's own: ``{model}``), its
        managed server started on first use."""
        from pytest_agentbench.servers.managed import ServerStartError

        name = spec.name
        try:
            self.session.ensure_endpoint(spec)
        except ServerStartError as exc:
            raise JudgeUnavailable(f"model {name!r}: server could not be started: {exc}") from None
        return self.session.client_for(spec)
