"""Registry model names → clients, the way the attempt's own model gets one (session.client_for,
a managed server started on first use). The session owns one :class:`JudgeModels` (made when it
starts, by the judging plugin: judging/report.py); each attempt hands it to verification in its
``CheckSetup``, which captures the artifacts and asks for verdicts through it — verification
never imports judging/. Without one (``agentbench validate``) judge checks are not run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_agentbench.judging.ask import JudgeUnavailable

if TYPE_CHECKING:
    from pytest_agentbench.run.session import AgentbenchSession
    from pytest_agentbench.schemas.models import ModelSpec
    from pytest_agentbench.servers.client import ChatClient

class JudgeModels:
    def capture(self, specs: list[Any], tree: Path, run: Callable[[str], tuple[int | None, str]],
                diff: Callable[[], str], jail: Any, answer: str | None,
                links: Mapping[str, str], phases: Mapping[str, str] | None) -> list[Any]:
        """Each judge check's artifact, from the verification tree once the checks passed
        (judging/run.py: capture_all)."""
        from pytest_agentbench.judging.run import capture_all

        return capture_all(specs, tree, run, diff, jail, answer, links, phases)

    def judge(self, specs: list[Any], artifacts: list[Any], log: Callable[[dict[str, Any]], None] | None,
              subject: ModelSpec | None) -> list[Any]:
        """Every check's verdict (judging/run.py: judge_all), as ``JudgeRecord`` entries."""
        from pytest_agentbench.judging.run import judge_all

        return judge_all(specs, artifacts, self, log, subject)

    def __init__(self, session: AgentbenchSession, rootdir: Path) -> None:
        self.session, self.rootdir = session, rootdir
        self._registry: dict[str, ModelSpec] | None = None

    def spec(self, name: str) -> ModelSpec:
        # --models first (it may give an endpoint: NAME@URL), then the registry.
        for model in self.session.settings.models:
            if model.name == name:
                return model
        if self._registry is None:
            from pytest_agentbench.schemas.models import ModelConfigError, load_registry

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
