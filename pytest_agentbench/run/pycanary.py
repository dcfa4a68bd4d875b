"""Python canaries: a test marked ``@pytest.mark.canary(...)`` that uses the ``agent`` fixture
gets the same model × repeat parametrization, outcomes and reporting as a ``canary.toml``::

    @pytest.mark.canary(tier="lite", repo="slugify_repo", tags=["python"])
    def test_slugify(agent):
        run = agent.run("Add slugify(text) to text_utils.py ...")
        assert "text_utils.py" in run.files_changed
        check = agent.check("python -m pytest -q")
        assert check.ok, check.output

The test body is the verification. It passing is ``passed``; it failing is classified like failed
checks: the loop's ceiling, malformed calls or confusion when one ended it, ``phantom``
when the agent changed nothing, else ``failed``. A server fault is ``infra_error``, whatever the
test asserted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pytest_agentbench.agent.loop import AgentLoop, LoopResult
from pytest_agentbench.attempt.outcome import Outcome
from pytest_agentbench.attempt.runner import AttemptEnvironment, attempt_info, server_problem
from pytest_agentbench.attempt.verdict import (
    finish,
    loop_result,
    python_canary_verdict,
    setup_failure,
)
from pytest_agentbench.attempt.verify import CheckResult, examine, run_checks
from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.run.session import AgentbenchSession
from pytest_agentbench.run.state import ATTEMPT_PARAM, CANARY_MARKER, SERVER_STOP
from pytest_agentbench.sandbox.commands import DEFAULT_OUTPUT_CAP
from pytest_agentbench.schemas.canary import Canary, ResolvedBudget
from pytest_agentbench.schemas.factors import budget_factors
from pytest_agentbench.schemas.models import ModelSpec
from pytest_agentbench.schemas.results import AttemptResult
from pytest_agentbench.trees.tree_diff import TreeChange, unified_diff

MARKER = CANARY_MARKER  # the fixtures `agent` and `agentbench_attempt` are in fixtures.py
MARKER_FIELDS = {"tier", "repo", "id", "tags", "budget", "tools", "language", "answer"}


@dataclass(frozen=True)
class PyAttempt:
    """The parameter of one Python-canary attempt: which canary, model and repeat."""

    canary: Canary
    model: ModelSpec
    repeat: int


class AgentInfraError(AgentbenchError):
    """The model server failed (or could not be set up): the attempt says nothing about the model."""


@dataclass
class AgentRun:
    """What one ``agent.run()`` did, for the test to assert on."""

    stop_reason: str  # final | budget_* | malformed | tool_confusion
    detail: str
    final_message: str | None
    turns: int
    tool_calls: int
    files_changed: list[str]
    diff: str  # unified diff against the starting repo
    protected_changes: list[str]  # left out of agent.check()'s tree (docs: "Protected paths")
    claimed_done: bool = False  # a final message with text (not an empty or reasoning-only reply)


def canary_from_marker(marker: pytest.Mark, function: Any, path: Path) -> Canary:
    where = f"{path}::{function.__name__}: @pytest.mark.canary"
    unknown = sorted(set(marker.kwargs) - MARKER_FIELDS)
    if marker.args or unknown:
        pytest.fail(f"{where}: takes keyword arguments {sorted(MARKER_FIELDS)} only"
                    + (f"; unknown: {unknown}" if unknown else ""), pytrace=False)
    fields = dict(marker.kwargs)
    repo = fields.pop("repo", None)
    if repo is None:
        pytest.fail(f"{where}: field 'repo': required (the starting files, relative to the test file)",
                    pytrace=False)
    repo_path = (path.parent / repo).resolve()
    if not repo_path.is_dir():
        pytest.fail(f"{where}: field 'repo': {repo_path} is not a directory", pytrace=False)
    fields.setdefault("id", f"{path.stem}.{function.__name__}")
    # The prompt is given to agent.run(); the docstring stands in for the record.
    fields["prompt"] = (function.__doc__ or "").strip() or function.__name__
    # The test body verifies; `answer=True`: the result is the final answer (text roles), so
    # an attempt that answered and failed the test is failed, not phantom.
    fields["verify"] = {"expect_changed": ["*"], "answer": fields.pop("answer", False)}
    try:
        canary = Canary.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(f"field '{'.'.join(map(str, e['loc']))}': {e['msg']}" for e in exc.errors())
        pytest.fail(f"{where}: {problems}", pytrace=False)
    canary.path, canary.repo_path = path, repo_path
    return canary


def parametrize(metafunc: pytest.Metafunc, session: AgentbenchSession) -> None:
    """pytest_generate_tests: one call per model × repeat, ids like TOML canaries'."""
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is None or "agent" not in metafunc.fixturenames:
        return
    canary = canary_from_marker(marker, metafunc.function, metafunc.definition.path)
    values = [pytest.param(PyAttempt(canary, model, repeat), id=f"{model.id_fragment}-r{repeat}",
                           marks=[getattr(pytest.mark, canary.tier), pytest.mark.agentbench])
              for model in session.settings.attempt_models() for repeat in range(session.settings.repeats)
              # a registry agent needs the TOML canary's repo and checks; a Python
              # canary's body drives the built-in loop itself, so it runs that agent only.
              if model.agent == "builtin"]
    metafunc.parametrize(ATTEMPT_PARAM, values)


def attempt_of(item: pytest.Item) -> PyAttempt | None:
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get(ATTEMPT_PARAM) if callspec is not None else None
    return value if isinstance(value, PyAttempt) else None


class Agent:
    """The ``agent`` fixture: a worktree of the canary's repo and a model to work in it."""

    def __init__(self, session: AgentbenchSession, attempt: PyAttempt, nodeid: str) -> None:
        self.session, self.attempt, self.nodeid = session, attempt, nodeid
        self.started = time.monotonic()
        settings = session.settings
        self.budget: ResolvedBudget = attempt.canary.resolved_budget(
            settings.turns, settings.tokens, settings.seconds, budget_factors(attempt.model))
        session.guard_secrets()
        self.server, self.setup_problem = server_problem(session, attempt.model)
        self.started += session.lease_wait()  # queueing for a pool slot is not the attempt's time
        self.workspace: AttemptEnvironment | None = None
        self.loop: AgentLoop | None = None
        # agent.phase(): the pipeline plugin keeps the attempt's phases here (hookspecs.py)
        self.pipeline: Any = None
        self.last: AgentRun | None = None
        self.change: TreeChange | None = None  # the agent's change as of the last run()
        if not self.setup_problem:
            self.workspace = AttemptEnvironment.open(session, attempt.canary, attempt.model, attempt.repeat, nodeid)

    @property
    def path(self) -> Path:
        """The worktree: read what the agent left, or add files before checks."""
        if self.workspace is None:
            raise AgentInfraError(self.setup_problem)
        return self.workspace.worktree

    def started_info(self) -> dict[str, Any]:
        """The attempt's info, once its first conversation starts (hook: attempt_started)."""
        assert self.workspace is not None
        canary, model = self.attempt.canary, self.attempt.model
        info = attempt_info(canary, model, self.attempt.repeat, self.nodeid, self.workspace.worktree)
        if self.session.hook is not None:
            self.session.hook.pytest_agentbench_attempt_started(attempt=info)
        return info

    def _examine(self) -> None:
        """After the agent acted: git intact, and its change as the checks will see it."""
        assert self.workspace is not None
        if self.workspace.check_integrity():
            pytest.fail(f"the agent tampered with git: {'; '.join(self.workspace.tampered)}",
                        pytrace=False)
        self.change, error = examine(self.attempt.canary, self.workspace.worktree, self.workspace.baseline)
        if error:
            pytest.fail(f"verification error: {error}", pytrace=False)

    def run(self, prompt: str) -> AgentRun:
        """Run the agent loop on ``prompt``; a second call continues the same conversation."""
        if self.workspace is None:
            raise AgentInfraError(self.setup_problem)
        if self.pipeline is not None:
            pytest.fail(f"{self.nodeid}: agent.run() after agent.phase(): an attempt is either one "
                        "conversation or phases; run the next step as another agent.phase()",
                        pytrace=False)
        if self.loop is None:
            canary, model = self.attempt.canary, self.attempt.model
            self.loop = self.workspace.agent_loop(self.session, canary, model, self.budget, self.started_info())
            run = self.loop.run(prompt)
        else:
            run = self.loop.resume(prompt)
        if run.stop_reason == Outcome.INFRA_ERROR.value:
            raise AgentInfraError(f"model server fault: {run.detail}")
        self._examine()
        assert self.change is not None
        baseline = self.workspace.baseline
        self.last = AgentRun(
            stop_reason=run.stop_reason, detail=run.detail, final_message=run.final_message,
            turns=run.turns, tool_calls=run.tool_calls, files_changed=self.change.files_changed,
            diff=unified_diff(self.change, baseline.path, baseline.manifest),
            protected_changes=self.change.protected, claimed_done=run.claimed_done,
        )
        return self.last

    def phase(self, name: str, prompt: str, **fields: Any) -> Any:
        """Run one pipeline phase: a fresh conversation on this attempt's tree with the
        phase's own tools, budget, schema and checks. ``fields`` are a ``[[phases]]`` entry's keys
        (``tools``, ``writes``, ``system_prompt``, ``budget={"turns": 8}``, ``output_schema`` — a
        dict or a JSON file beside the test —, ``max_json_retries``, ``claims``,
        ``check_language``, ``regression_gate`` with ``gate_checks``); ``{{name}}`` in ``prompt``
        pins an earlier phase's output verbatim. The phase is recorded in ``attempts[].phases``."""
        if self.workspace is None:
            raise AgentInfraError(self.setup_problem)
        if self.loop is not None:
            pytest.fail(f"{self.nodeid}: agent.phase() after agent.run(): an attempt is either one "
                        "conversation or phases", pytrace=False)
        done = self.session.hook.pytest_agentbench_python_phase(agent=self, name=name, prompt=prompt,
                                                                fields=fields)
        if done is None:
            raise AgentInfraError("agent.phase(): no plugin runs pipeline phases")
        if done.outcome == Outcome.INFRA_ERROR.value:
            raise AgentInfraError(f"model server fault: {done.detail}")
        self._examine()
        return done

    def check(self, command: str, timeout: float = 120,
              files: dict[str, str | bytes] | None = None) -> CheckResult:
        """Run ``command`` in a fresh verification tree — the starting repo, the agent's change to
        unprotected paths and ``files`` (hidden tests: the agent never sees them) — in the same
        sandbox tier as the agent's shell. A pytest command passes on its report's evidence."""
        ws = self.workspace
        if ws is None:
            raise AgentInfraError(self.setup_problem)
        if self.change is None:
            self.change, error = examine(self.attempt.canary, ws.worktree, ws.baseline)
            if error:
                pytest.fail(f"verification error: {error}", pytrace=False)
        data = {name: content.encode() if isinstance(content, str) else content
                for name, content in (files or {}).items()}
        checks = run_checks([command], timeout, self.change, data, ws.check_setup(self.session),
                            ws.worktree.name, output_cap=DEFAULT_OUTPUT_CAP)
        return checks[0]

    def read(self, relative: str) -> str:
        return (self.path / relative).read_text(encoding="utf-8", errors="replace")

    def result(self, test_passed: bool, failure: str) -> AttemptResult | None:
        """The attempt's record once the test body is done; None if it never ran the agent."""
        canary, model, repeat = self.attempt.canary, self.attempt.model, self.attempt.repeat
        if self.setup_problem:
            return setup_failure(canary, model, repeat, self.nodeid, self.budget, self.server,
                                 self.setup_problem, self.started)
        run: LoopResult | None = (self.loop.result if self.loop is not None
                                  else self.pipeline.loop_result() if self.pipeline is not None else None)
        if run is None:
            return None
        assert self.workspace is not None and self.server is not None
        result = loop_result(canary, model, repeat, self.nodeid, run, self.budget,
                             self.workspace.transcript, self.server)
        if run.stop_reason == Outcome.INFRA_ERROR.value:
            result.detail = self.session.explain_fault(model, f"model server fault: {run.detail}")
        elif self.workspace.tampered:
            result.outcome, result.integrity_problems = Outcome.TAMPERED.value, self.workspace.tampered
            result.detail = f"{run.detail}; test failed: {failure}"
        else:
            change = self.change  # the tree as the last run() or phase() left it
            python_canary_verdict(result, run, test_passed=test_passed, failure=failure,
                         files=change.files_changed if change else [],
                         protected=change.protected if change else [],
                         answer_canary=self.attempt.canary.verify.answer)
        if self.pipeline is not None:
            self.pipeline.record(result)  # attempts[].phases
        finish(result, self.started)
        self.workspace.transcript.write({"event": "result", **result.model_dump(mode="json")})
        return result

    def close(self) -> None:
        if self.workspace is not None:
            self.workspace.close(self.session)


agent_key = pytest.StashKey[Agent]()


def finish_report(item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> AttemptResult | None:
    """At the call phase of a Python canary: its result, and a report status that matches it."""
    instance = item.stash.get(agent_key, None)
    if instance is None or report.when != "call":
        return None
    failure = "" if call.excinfo is None else call.excinfo.exconly().splitlines()[0][:300]
    result = instance.result(report.passed, failure)
    if result is None:
        return None
    if result.outcome != Outcome.PASSED.value and report.passed:
        # e.g. a server fault in a test that asserted nothing: never a pass.
        report.outcome = "failed"
        report.longrepr = f"{result.outcome}: {result.detail}"
    if result.stop_reason == "setup":
        item.session.shouldstop = f"{SERVER_STOP}{result.model}: {result.detail}"
    return result
