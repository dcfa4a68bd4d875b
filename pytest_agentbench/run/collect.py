"""Collection: each ``canary.toml`` becomes one item per model × repeat (pytest's YamlFile
pattern). Collection is deterministic — xdist requires identical collection on every worker.

Light at import (the entry point needs it in every run); the canary format and the runner are
imported when a canary file is collected and when an attempt runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_agentbench.attempt.identity import Attempt
from pytest_agentbench.attempt.outcome import Outcome
from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.run.state import SERVER_STOP, get_session, is_python_attempt, result_key

if TYPE_CHECKING:
    from pytest_agentbench.schemas.canary import Canary
    from pytest_agentbench.schemas.models import ModelSpec
    from pytest_agentbench.schemas.results import AttemptResult

CANARY_FILENAME = "canary.toml"
CANARY_SUBDIRS = ("repo", "hidden", "solution")

# canary id → the canary.toml that claimed it first in this session. Two files with one id would
# share database rows and report lines: one's results would silently overwrite the other's.
canary_ids_key = pytest.StashKey[dict[str, Path]]()
# Model names a judge check may name here: --models and the registry (read once per run).
judge_models_key = pytest.StashKey[set[str]]()


class AttemptFailed(AgentbenchError):
    """Raised by an attempt that did not pass; carries the result for the failure report."""

    def __init__(self, result: AttemptResult) -> None:
        super().__init__(result.outcome)
        self.result = result


def junit_properties(result: AttemptResult) -> list[tuple[str, object]]:
    """JUnit XML (--junitxml) writes these as <property> elements of the test case."""
    return [
        ("agentbench_outcome", result.outcome), ("agentbench_turns", result.turns),
        ("agentbench_tokens", result.total_tokens), ("agentbench_tool_calls", result.tool_calls),
        ("agentbench_malformed_tool_calls", result.malformed_tool_calls),
        ("agentbench_wall_seconds", result.wall_seconds),
    ]


class CanaryFile(pytest.File):
    def collect(self):
        from pytest_agentbench.schemas.canary import CanaryError, load_canary

        try:
            canary = load_canary(self.path)
        except CanaryError as exc:
            raise self.CollectError(f"invalid canary: {exc}") from None
        first = self.config.stash.setdefault(canary_ids_key, {}).setdefault(canary.id, self.path)
        if first != self.path:
            raise self.CollectError(
                f"duplicate canary id {canary.id!r}: {self._shown(first)} and {self._shown(self.path)} "
                "- ids must be unique (set a different `id = ...` in one of them)")
        session = get_session(self.config)
        # Read the canary's files now, before any attempt could change them (without an OS
        # sandbox a model's commands can write the canary directory): attempt/canary_files.py.
        canary.files  # noqa: B018 - read for its effect
        canary.content_hash  # noqa: B018 - the version recorded with every result, read now too
        missing = self._unconfigured_judges(canary, session)
        if missing:
            # A canary whose judge checks name models nobody configured could only ever end in
            # infra_error: leave it out, and say so, rather than spend its attempts. A run that
            # gates (--agentbench-fail-under, --agentbench-fail-on-regression) must not narrow
            # its canaries behind a warning: there it is a collection error (the run fails).
            problem = (f"canary {canary.id!r} left out: its judge checks name models that are "
                       f"neither given with --models nor in the model registry: {', '.join(missing)} "
                       "(docs: Judge checks)")
            gated = (session.settings.gates or session.settings.fail_on_regression
                     or session.settings.max_cheat_rate is not None)
            if gated:
                raise self.CollectError(f"{problem}; a gated run cannot leave it out")
            self.warn(pytest.PytestWarning(f"agentbench: {problem}"))
            return
        for model in session.settings.attempt_models():
            for repeat in range(session.settings.repeats):
                yield CanaryItem.from_parent(
                    self, name=f"{canary.id}[{model.id_fragment}-r{repeat}]",
                    canary=canary, model=model, repeat=repeat,
                )

    def _unconfigured_judges(self, canary: Canary, session: Any) -> list[str]:
        names = {name for judge in canary.verify.judge for name in judge.models()}
        if not names:
            return []
        known = self.config.stash.get(judge_models_key, None)
        if known is None:
            from pytest_agentbench.schemas.models import ModelConfigError, load_registry

            try:
                registry = set(load_registry(self.config.rootpath))
            except ModelConfigError:
                registry = set()  # the session start reports a broken registry itself
            known = registry | {model.name for model in session.settings.models}
            self.config.stash[judge_models_key] = known
        return sorted(names - known)

    def _shown(self, path: Path) -> str:
        try:
            return path.relative_to(self.config.rootpath).as_posix()
        except ValueError:
            return str(path)


class CanaryItem(pytest.Item):
    def __init__(self, *, canary: Canary, model: ModelSpec, repeat: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.canary = canary
        self.model = model
        self.repeat = repeat
        self.attempt = Attempt.of(canary, model, repeat, self.nodeid)  # which attempt, once
        self.add_marker(canary.tier)
        self.add_marker(pytest.mark.agentbench)
        # `-k python` selects by tag, `-k qwen` by model.
        self.extra_keyword_matches.update(canary.tags)
        self.extra_keyword_matches.add(model.name)

    def runtest(self) -> None:
        from pytest_agentbench.attempt.runner import run_attempt

        result = run_attempt(get_session(self.config), self.canary, self.model, self.repeat, self.nodeid)
        self.stash[result_key] = result
        self.user_properties.extend(junit_properties(result))
        if result.stop_reason == "setup":
            # A server that cannot run the benchmark makes every later attempt meaningless.
            self.session.shouldstop = f"{SERVER_STOP}{self.model.name}: {result.detail}"
        if result.outcome != Outcome.PASSED.value:
            raise AttemptFailed(result)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, AttemptFailed):
            return describe_failure(excinfo.value.result)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        # The title of the attempt's failure report: under a sweep two variants of one model are
        # two cells, so the variant (and a registry agent) is part of it: `qwen/temperature=0.7`.
        model = self.model
        label = model.name if model.variant == "base" else f"{model.name}/{model.variant}"
        if model.agent != "builtin":
            label += f" via {model.agent}"
        return self.path, None, f"canary {self.canary.id} · {label} · repeat {self.repeat}"


def describe_failure(result: AttemptResult) -> str:
    """What a user needs to see without opening a log: outcome, why, and the check's output."""
    lines = [
        f"{result.outcome}: {result.detail}",
        (f"turns {result.turns} · tool calls {result.tool_calls} (malformed {result.malformed_tool_calls})"
        f" · tokens {result.total_tokens} · {result.wall_seconds:.1f}s"),
        f"files changed: {', '.join(result.files_changed) or '(none)'}",
    ]
    if result.check_output_tail:
        tail = result.check_output_tail.strip().splitlines()[-25:]
        lines.append("failing check output (tail):")
        lines.extend("    " + line for line in tail)
    if result.transcript:
        lines.append(f"transcript: {result.transcript}")
    return "\n".join(lines)


def is_canary_support_dir(path: Path) -> bool:
    """``repo/``, ``hidden/`` and ``solution/`` next to a canary.toml hold the canary's own
    files (often ``test_*.py``), which pytest must never collect as tests of their own."""
    return path.name in CANARY_SUBDIRS and (path.parent / CANARY_FILENAME).is_file()


def is_attempt(item: pytest.Item) -> bool:
    """Whether ``item`` is a canary attempt, TOML or Python (cheap: imports nothing)."""
    return isinstance(item, CanaryItem) or is_python_attempt(item)
