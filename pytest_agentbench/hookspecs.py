"""The plugin's own pytest hooks: implement any of these in a ``conftest.py`` or a plugin.

Registered with ``pytest_addhooks`` (the pytest-xdist ``newhooks.py`` pattern). Every hook is
optional; argument names are the contract (pluggy passes arguments by name, so an implementation
may take any subset of them). Where each runs:

- on every process that benchmarks, as its session starts: ``select_models``, ``variants``
  (while the options are read), then ``session_started``;
- on the process that runs the attempt (a worker under ``-n``): ``driver``, ``tools``,
  ``request``, ``attempt_started``, ``classify``, ``annotate``, ``python_phase``;
- on the controller (the only process under plain ``pytest``): ``attempt_finished``, ``summary``,
  ``report``.

The plugin's own features (external agents, pipelines, judge checks, roles, tuning) are built on
these hooks, registered by ``features.py`` like any other plugin.

Examples are in the docs ("Extension points").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_agentbench.attempt.drivers import AttemptSetup, Driver
    from pytest_agentbench.attempt.identity import Attempt
    from pytest_agentbench.attempt.verify import Verification
    from pytest_agentbench.run.session import AgentbenchSession
    from pytest_agentbench.run.variants import ModelChoice, Variant
    from pytest_agentbench.schemas.canary import Canary
    from pytest_agentbench.schemas.models import ModelSpec
    from pytest_agentbench.schemas.results import AttemptResult


@pytest.hookspec
def pytest_agentbench_select_models(config: pytest.Config, registry: dict[str, ModelSpec],
                                    base_url: str, model_names: list[str]) -> ModelChoice | None:
    """Choose the models this run benchmarks in place of ``--models`` (a role's incumbent and
    challengers, the models of an earlier run): return a
    :class:`pytest_agentbench.run.variants.ModelChoice` naming the option that asked, or None.
    ``model_names`` are the names ``--models`` gave (empty without it). Two answers are a usage
    error naming both options. Raise ``pytest.UsageError`` for a choice that cannot be made."""


@pytest.hookspec(firstresult=True)
def pytest_agentbench_variants(config: pytest.Config, models: list[ModelSpec],
                               directives: dict[str, str], confidence: float) -> list[Variant] | None:
    """The variants this run makes, in place of ``--agentbench-sweep``'s (an OFAT run's cells, an
    all-on cell, raised budgets): a list of :class:`pytest_agentbench.run.variants.Variant`, or
    None to leave it to the next implementation. The first answer wins."""


@pytest.hookspec
def pytest_agentbench_session_started(session: AgentbenchSession) -> None:
    """This process's benchmark session has started: its settings, clients and results are on
    ``session`` (:class:`pytest_agentbench.run.session.AgentbenchSession`). Keep a reference to
    it here rather than looking it up later."""


@pytest.hookspec(firstresult=True)
def pytest_agentbench_driver(setup: AttemptSetup) -> Driver | None:
    """Who drives this attempt: return a :class:`pytest_agentbench.attempt.drivers.Driver` (``run(prompt)``
    and ``resume(feedback)``, each returning the loop's record, and the ``budget`` it holds the
    attempt to), or None to leave it to the next implementation. The first answer wins; the
    plugin's own agent loop answers last. ``setup`` (:class:`pytest_agentbench.attempt.drivers.AttemptSetup`)
    holds the session, the attempt's worktree environment, the canary, the model, the budget and
    the attempt's description. Raise ``ValueError`` for an attempt the driver cannot run: it is
    recorded as a harness error naming the reason."""


@pytest.hookspec
def pytest_agentbench_tools(canary: Canary, model: ModelSpec) -> dict[str, Any] | None:
    """Add or replace tools for one attempt.

    Return ``{name: Tool}`` (:class:`pytest_agentbench.agent.tools.Tool`: a JSON schema and a
    function ``(context, **arguments) -> str``); a name that already exists replaces the built-in
    tool. Results of every implementation are merged in hook order. A canary's (or model's)
    ``tools`` list narrows the built-in tools only: a custom tool is always offered.
    """


@pytest.hookspec
def pytest_agentbench_request(body: dict[str, Any], attempt: Attempt) -> None:
    """Adjust a chat-completions request body in place just before it is sent (a sampling
    option, a server-specific field). ``attempt``
    (:class:`pytest_agentbench.attempt.identity.Attempt`) names the canary, model, variant, agent
    and repeat. Called once per request; keep it cheap."""


@pytest.hookspec
def pytest_agentbench_attempt_started(attempt: Attempt) -> None:
    """An attempt is about to start: ``attempt``
    (:class:`pytest_agentbench.attempt.identity.Attempt`, frozen) holds ``canary``, ``tier``,
    ``model``, ``variant``, ``agent``, ``repeat``, ``nodeid`` and ``worktree``; it also reads as a
    dict (``attempt["model"]``; ``dict(attempt)`` for JSON)."""


@pytest.hookspec(firstresult=True)
def pytest_agentbench_classify(result: AttemptResult, verification: Verification) -> str | None:
    """A project's own outcome rule: return an outcome name (see
    :class:`pytest_agentbench.attempt.outcome.Outcome`) to replace the built-in verdict, or None to keep
    it. ``result`` already carries the built-in outcome and the loop's counters; ``verification``
    the change, protected paths and checks. The first non-None answer wins; an answer that is not
    an outcome name makes the attempt an ``infra_error`` naming the hook. ``canary.toml`` canaries
    only (a Python canary's test body is its own rule)."""


@pytest.hookspec
def pytest_agentbench_annotate(result: AttemptResult, canary: Canary, verification: Verification) -> None:
    """An attempt's verdict is final (after ``classify``): add measurements to ``result`` (a
    progress count, a severity-weighted score). Changing ``result.outcome`` here makes the attempt
    an ``infra_error`` naming the hook: outcomes are ``classify``'s.
    ``canary.toml`` canaries only."""


@pytest.hookspec(firstresult=True)
def pytest_agentbench_python_phase(agent: Any, name: str, prompt: str, fields: dict[str, Any]) -> Any:
    """A Python canary's ``agent.phase(name, prompt, **fields)``: run one pipeline phase on the
    attempt's tree and return its record. ``agent`` is the test's ``agent`` fixture
    (:class:`pytest_agentbench.run.pycanary.Agent`); keep what the attempt's later phases need in
    ``agent.pipeline``, which must then offer ``loop_result()`` (the loop's record of the phases
    together) and ``record(result)`` (the phases into the attempt's record)."""


@pytest.hookspec
def pytest_agentbench_attempt_finished(result: AttemptResult) -> None:
    """An attempt's result arrived on the controller (in arrival order; under ``-n`` from every
    worker): a notifier, a metric, an export. Do not mutate ``result``."""


@pytest.hookspec
def pytest_agentbench_summary(aggregates: list[dict[str, Any]],
                              terminalreporter: pytest.TerminalReporter) -> None:
    """Write extra lines at the end of the agentbench terminal summary. ``aggregates`` are the
    JSON report's per model × variant × tier rows."""


@pytest.hookspec
def pytest_agentbench_report(report: dict[str, Any]) -> None:
    """Add fields to the report (mutate ``report``) before it is written: called once on the
    controller at the end of every recorded run. The JSON report, the HTML report and the results
    database (which ``agentbench report RUN`` re-renders from) all get the same dict, so keep what
    you add JSON-safe."""
