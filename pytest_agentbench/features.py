"""The plugin's features, each an internal plugin: registered here, the one module that imports
them, the way pytest registers its own plugins.

- ``external/``: registry agents (their own programs) behind the recording proxy — a driver;
- ``pipeline/``: canaries in phases, and Python canaries' ``agent.phase()`` — a driver, its
  tables, ``agentbench validate``'s reference pass;
- ``judging/``: judge checks (a model reads a file, a page, a command's output) — the judge models
  verification asks, their tables;
- ``routing/``: roles and promotion — the role's models, review pain, ``agentbench promote``;
- ``tuning/``: OFAT, all-on and ceilings runs — their models and variants, progress, tables;
- ``integrity/``: the propensity to cheat per model — its table in the summary and the reports.

Each reaches an attempt only through the ``pytest_agentbench_*`` hooks (hookspecs.py); the core
(attempt/, run/, schemas/, …) imports none of them, and tests/test_import_graph.py keeps it so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    import pytest


def register(config: pytest.Config) -> None:
    """Register every feature's plugin with this run's plugin manager (once per run: a feature's
    plugin keeps what it read from the options, such as a role's models)."""
    from pytest_agentbench.external.driver import ExternalAgentDriver
    from pytest_agentbench.integrity.hooks import IntegrityHooks
    from pytest_agentbench.judging.report import JudgeHooks
    from pytest_agentbench.pipeline.driver import PipelineDriver
    from pytest_agentbench.pipeline.report import PipelineHooks
    from pytest_agentbench.routing.hooks import RoutingHooks
    from pytest_agentbench.tuning.hooks import TuningHooks

    plugins: list[tuple[str, Any]] = [
        (ExternalAgentDriver.NAME, ExternalAgentDriver()),
        (PipelineDriver.NAME, PipelineDriver()),
        (PipelineHooks.NAME, PipelineHooks()),
        (JudgeHooks.NAME, JudgeHooks(config.rootpath)),
        (RoutingHooks.NAME, RoutingHooks()),
        (TuningHooks.NAME, TuningHooks()),
        (IntegrityHooks.NAME, IntegrityHooks()),
    ]
    for name, plugin in plugins:
        if config.pluginmanager.get_plugin(name) is None:
            config.pluginmanager.register(plugin, name)


def cli_commands() -> list[Callable[[argparse._SubParsersAction], None]]:
    """The features' own ``agentbench`` subcommands: each adds its parser."""
    from pytest_agentbench.routing.command import add_subcommand as add_promote

    return [add_promote]


def reference_checks() -> list[Callable[[Any], tuple[list[str], str | None] | None]]:
    """``agentbench validate``'s checks of a canary's reference beyond ``solution/``: each takes
    the canary and returns None where it does not apply, else ``(problems, missing)``: ``missing``
    says why there is no reference to check (a problem under ``--require-solution``, else a
    warning), or is None."""
    from pytest_agentbench.pipeline.reference import validate_reference

    return [validate_reference]


def page_checks() -> Callable[[list[Any], Path, bool], tuple[list[str], list[str]]]:
    """``agentbench validate``'s run of the judge entries' deterministic page checks
    (``no_console_errors``, ``not_blank``) on a tree: takes the entries, the tree and whether the
    browser runs in the checks' jail; returns (why each failing check fails, why a check could
    not be run). No model is asked (judging/page_checks.py)."""
    from pytest_agentbench.judging.page_checks import validation_problems

    return validation_problems
