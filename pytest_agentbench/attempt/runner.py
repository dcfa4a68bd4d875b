"""One attempt, end to end: worktree → agent loop → verification → classified result."""

from __future__ import annotations

import itertools
import re
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_agentbench.agent.loop import SYSTEM_PROMPT, AgentLoop
from pytest_agentbench.agent.tools import DEFAULT_TOOLS, OPT_IN_TOOLS, Tool, ToolContext
from pytest_agentbench.attempt.canary_files import CanaryFiles
from pytest_agentbench.attempt.drivers import AttemptSetup, BuiltinDriver
from pytest_agentbench.attempt.feedback import feedback_message
from pytest_agentbench.attempt.identity import Attempt
from pytest_agentbench.attempt.outcome import Outcome
from pytest_agentbench.attempt.push import PushRemote
from pytest_agentbench.attempt.verdict import (
    add_verdict,
    finish,
    harness_failure,
    loop_result,
    setup_failure,
)
from pytest_agentbench.attempt.verify import CheckSetup, run_verification, verify_pushed
from pytest_agentbench.run.session import AgentbenchSession, JsonlTranscript
from pytest_agentbench.sandbox.commands import Sandbox, command_env
from pytest_agentbench.schemas.canary import Canary, ResolvedBudget
from pytest_agentbench.schemas.factors import budget_factors
from pytest_agentbench.schemas.models import ModelSpec
from pytest_agentbench.schemas.results import AttemptResult, TryRecord
from pytest_agentbench.servers.endpoint_pool import PoolExhausted
from pytest_agentbench.servers.managed import ServerStartError
from pytest_agentbench.servers.preflight import ServerInfo
from pytest_agentbench.trees import safe_fs
from pytest_agentbench.trees.workspace import Baseline, GitState


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:150]


def _tools_for(canary: Canary, model: ModelSpec, scope: list[str] | None = None) -> list[str] | None:
    """The canary's (or a pipeline phase's ``scope``) tool list, narrowed by the model's own
    subset when it has one. An opt-in tool (extra_tools.py) is offered when either list names
    it — the model's subset narrows the default tools it handles, it cannot take away a tool the
    canary asks for — and ``escalate`` also when the canary sets ``escalate = true``."""
    wanted = canary.tools if scope is None else scope
    if model.tools is None:
        chosen = wanted
    elif wanted is None:
        chosen = model.tools
    else:
        chosen = [name for name in wanted if name in model.tools or name in OPT_IN_TOOLS]
        chosen += [name for name in model.tools if name in OPT_IN_TOOLS and name not in chosen]
    if canary.escalate and scope is None:
        chosen = list(chosen or DEFAULT_TOOLS)
        if "escalate" not in chosen:
            chosen.append("escalate")
    return chosen


def server_problem(session: AgentbenchSession, model: ModelSpec) -> tuple[ServerInfo | None, str]:
    """The endpoint's preflight, and why no attempt can run on it ("" when one can). A pooled
    model's attempt holds a slot of one endpoint from here until its environment closes."""
    try:
        session.ensure_endpoint(model)
        session.lease_endpoint(model)
        server = session.preflight(model)
    except ServerStartError as exc:
        return None, f"model server could not be started: {exc}"
    except PoolExhausted as exc:
        return None, str(exc)
    if server.problems:
        session.release_endpoint()  # no attempt will run on it
    return server, "; ".join(server.problems) and f"server preflight failed: {'; '.join(server.problems)}"


@dataclass
class AttemptEnvironment:
    """One attempt's worktree and what runs in it: environment, sandbox, transcript."""

    baseline: Baseline
    worktree: Path
    home: Path  # the commands' scratch $HOME
    env: dict[str, str]
    sandbox: Sandbox | None
    transcript: JsonlTranscript
    git_state: GitState | None = None
    tampered: list[str] = field(default_factory=list)
    extra_readonly: list[Path] = field(default_factory=list)  # paths the checks name
    model: ModelSpec | None = None  # the model under test (a judge check's "{model}")
    # Without an OS sandbox the canary directory is writable by the agent's commands: checked
    # (and put back) after the attempt.
    canary_files: CanaryFiles | None = None
    canary_problems: list[str] = field(default_factory=list)
    push: PushRemote | None = None  # verify.push: the remote the agent pushes to (attempt/push.py)

    @classmethod
    def open(cls, session: AgentbenchSession, canary: Canary, model: ModelSpec, repeat: int,
             nodeid: str) -> AttemptEnvironment:
        # The variant is part of the name: a sweep runs one model several times per repeat.
        name = slug(f"{canary.id}-{model.id_fragment}-r{repeat}")
        baseline = session.trees.baseline(canary.repo_dir, canary.id, canary.files.repo)
        push = None
        if canary.verify.push:
            # A clone of a local remote, with a git directory of its own the agent may write.
            worktree = session.trees.root / "worktrees" / f"{name}.clone"
            safe_fs.remove_tree(worktree)
            push = PushRemote.create(baseline, session.trees.root / "worktrees" / f"{name}.remote",
                                     worktree)
        elif session.pool_trees:
            worktree = session.trees.acquire(baseline)
        else:  # kept worktrees carry the attempt's name
            worktree = session.trees.checkout(baseline, name)
        home = worktree.parent / f"{name}.home"
        safe_fs.remove_tree(home)  # a home left by an interrupted earlier run of the same name
        home.mkdir()
        transcript = session.transcript_for(name)
        transcript.write({"event": "attempt", "nodeid": nodeid, "canary": canary.id,
                          "model": model.name, "agent": model.agent, "repeat": repeat, "run_id": session.run_id,
                          "worktree": str(worktree),
                          "endpoint": {**model.describe(), "base_url": session.endpoint_of(model)}})
        extra = session.check_paths(canary)
        return cls(baseline, worktree, home, command_env(home),
                   session.sandbox_for(worktree, home, baseline.path / ".git", extra,
                                       remote=push.remote if push else None), transcript,
                   GitState.capture(baseline, worktree), extra_readonly=extra, model=model,
                   canary_files=canary.files if session.sandbox_tier != "bubblewrap" else None,
                   push=push)

    def check_setup(self, session: AgentbenchSession) -> CheckSetup:
        """Where this attempt's checks run: a fresh tree of the same baseline, same tier."""
        return CheckSetup(session.trees, self.baseline, jail=session.sandbox_tier == "bubblewrap",
                          limits=session.settings.sandbox_limits, extra_readonly=self.extra_readonly,
                          reuse=session.pool_trees, judge_models=session.judge_models,
                          log=self.transcript.write, subject=self.model)

    def check_integrity(self) -> list[str]:
        """How the agent changed host-side git metadata (only possible without bubblewrap).
        Checked before any host git command reads the tree again: a planted config could
        otherwise make ``git add`` run a filter command on the host."""
        if self.git_state is not None:
            self.tampered = self.git_state.changes(GitState.capture(self.baseline, self.worktree))
        if self.canary_files is not None:
            changed = self.canary_files.changed_on_disk()
            if changed:
                left = self.canary_files.restore()
                shown = ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")
                put_back = ("could not all be put back: " + "; ".join(left) if left
                            else "put back as the run read them")
                self.canary_problems.append(f"the canary's own files were changed: {shown} ({put_back})")
        self.tampered += [p for p in self.canary_problems if p not in self.tampered]
        return self.tampered

    def agent_loop(self, session: AgentbenchSession, canary: Canary, model: ModelSpec,
                   budget: ResolvedBudget, info: Attempt, scope: list[str] | None = None,
                   system_prompt: str | None = None) -> AgentLoop:
        """The attempt's loop, with what the pytest_agentbench_tools and _request hooks add.
        A pipeline phase (pipeline/runner.py) gives its own tool ``scope`` and ``system_prompt``."""
        hook = session.hook
        extra_tools: dict[str, Tool] = {}
        on_request = None
        if hook is not None:
            for tools in hook.pytest_agentbench_tools(canary=canary, model=model):
                extra_tools.update(tools or {})

            if hook.pytest_agentbench_request.get_hookimpls():  # else: bodies encode incrementally
                def on_request(body: dict[str, Any]) -> None:
                    hook.pytest_agentbench_request(body=body, attempt=info)
        return AgentLoop(
            client=session.client_for(model),
            context=ToolContext(root=self.worktree, env=self.env, sandbox=self.sandbox),
            budget=budget,
            tools=_tools_for(canary, model, scope),
            max_malformed=model.max_format_retries or session.settings.max_malformed,
            system_prompt=system_prompt or model.system_prompt or SYSTEM_PROMPT,
            transcript=self.transcript,
            extra_tools=extra_tools,
            on_request=on_request,
            seed=model.repeat_seed(info.repeat or 0),  # independent repeats (attempt/sampling.py)
            sub_agent_writes=canary.ask_agent_writes,
        )

    def close(self, session: AgentbenchSession) -> str | None:
        """Never raises (it runs while another exception may be on its way): returns what could
        not be cleaned up, or None."""
        session.release_endpoint()  # the pool slot: the model server is done with this attempt
        problems = []
        try:
            if self.sandbox is not None:
                self.sandbox.close()  # a loop cut short by an exception left its jail running
        except OSError as exc:
            problems.append(f"jail: {exc}")
        try:
            self.transcript.close()
        except OSError as exc:
            problems.append(f"transcript: {exc}")
        if self.tampered:
            # The baseline repository can't be trusted any more: later attempts rebuild it.
            session.trees.discard(self.baseline)
        if not session.settings.keep_worktrees:
            reuse = session.pool_trees and not self.tampered and self.push is None
            problems.append(session.trees.release(self.baseline, self.worktree, reuse) or "")
            problems.append(safe_fs.remove_tree(self.home) or "")
            if self.push is not None:
                problems.append(safe_fs.remove_tree(self.push.remote.parent) or "")
        return "; ".join(p for p in problems if p) or None


def run_attempt(
    session: AgentbenchSession, canary: Canary, model: ModelSpec, repeat: int, nodeid: str
) -> AttemptResult:
    """One attempt; whatever happens, an :class:`AttemptResult` comes back: a broken
    agent tree is a ``failed`` verification error, a broken harness an ``infra_error`` naming it."""
    started = time.monotonic()
    settings = session.settings
    # Tier < canary < the model's (variant's) budget factors < the command line.
    budget = canary.resolved_budget(settings.turns, settings.tokens, settings.seconds, budget_factors(model))
    session.guard_secrets()
    server, problem = server_problem(session, model)
    started += session.lease_wait()  # queueing for a pool slot is not the attempt's time
    if problem:
        return setup_failure(canary, model, repeat, nodeid, budget, server, problem, started)
    try:
        workspace = AttemptEnvironment.open(session, canary, model, repeat, nodeid)
    except Exception as exc:  # noqa: BLE001 - recorded, never lost
        return harness_failure(canary, model, repeat, nodeid, budget, server, exc, started,
                               "preparing the worktree")
    # What the terminal shows while it runs (run/progress.py): its turns, from the transcript.
    session.progress.begin(Attempt.of(canary, model, repeat, nodeid), budget.turns, budget.tokens)
    workspace.transcript.observer = session.progress.observe
    try:
        result = _attempt(session, canary, model, repeat, nodeid, budget, server, workspace, started)
    except Exception as exc:  # noqa: BLE001 - recorded, never lost
        result = harness_failure(canary, model, repeat, nodeid, budget, server, exc, started,
                                 "running the attempt")
        result.transcript = str(workspace.transcript.path)
        try:  # the whole traceback, for the bug report: the record names only its last frame
            workspace.transcript.write({"event": "harness_error", "detail": result.detail,
                                        "traceback": "".join(traceback.format_exception(exc))})
        except Exception:  # noqa: BLE001, S110 - the record above is what must not be lost
            pass
    finally:
        session.progress.end()
        # Also on Ctrl-C/SIGTERM (not an Exception): the tree is released before it propagates.
        cleanup_problem = workspace.close(session)
    if cleanup_problem:
        result.detail += f"; cleanup: {cleanup_problem}"
    return result


def _attempt(session: AgentbenchSession, canary: Canary, model: ModelSpec, repeat: int, nodeid: str,
             budget: ResolvedBudget, server: ServerInfo, workspace: AttemptEnvironment,
             started: float) -> AttemptResult:
    settings = session.settings
    worktree, transcript = workspace.worktree, workspace.transcript
    info = attempt_info(canary, model, repeat, nodeid, worktree)
    if session.hook is not None:
        session.hook.pytest_agentbench_attempt_started(attempt=info)
    # Who drives it (the built-in loop, an external agent, a pipeline...) is the plugins' answer.
    driving = AttemptSetup(session, workspace, canary, model, budget, info)
    loop = (session.hook.pytest_agentbench_driver(setup=driving) if session.hook is not None
            else BuiltinDriver().pytest_agentbench_driver(driving))
    budget = loop.budget  # the driver's own (an external agent's is capped by its timeout)
    run = loop.run(canary.prompt)
    # A driver that keeps no conversation to resume (a pipeline's phases) has no second try.
    retries = (_retries_for(canary, settings.retries_with_feedback)
               if getattr(loop, "takes_feedback", True) else 0)
    tries: list[TryRecord] = []
    setup = workspace.check_setup(session)
    for try_number in itertools.count(1):
        session.progress.doing("verifying")
        last_try = try_number > retries
        result = loop_result(canary, model, repeat, nodeid, run, budget, transcript, server)
        verification = None
        if run.stop_reason == Outcome.INFRA_ERROR.value:
            # A server fault says nothing about the model: no verification, no verdict.
            result.detail = session.explain_fault(model, f"model server fault: {run.detail}")
        elif workspace.check_integrity():
            result.outcome = Outcome.TAMPERED.value
            result.integrity_problems = workspace.tampered
            if canary.integrity is not None:  # a canary measuring cheats counts this one too
                result.cheats = []
            result.detail = f"{run.detail}; the agent tampered with what the verdict rests on: {'; '.join(workspace.tampered)}"
            break
        else:
            # Checks run in a fresh tree built from the agent's change: the hidden tests never
            # exist where the model can see them, in any try.
            # An answer canary's result is the final answer: a loop a ceiling ended gave none.
            answer = (run.final_message or "") if run.stop_reason == "final" else ""
            if workspace.push is not None:  # the result is what was pushed, not the working tree
                verification = verify_pushed(canary, workspace.push, worktree, setup, worktree.name)
            else:
                # A pipeline's phase outputs, for judge checks on a phase (artifact "phase:NAME").
                outputs = getattr(loop, "phase_outputs", None)
                verification = run_verification(canary, worktree, setup, worktree.name, answer=answer,
                                                phases=outputs() if outputs else None)
            add_verdict(result, canary, run, verification, session.hook)
        if retries:
            tries.append(TryRecord(outcome=result.outcome, stop_reason=run.stop_reason,
                                   turns=run.turns, tokens=run.total_tokens, detail=result.detail))
        # A model that handed the task back (escalate) asked for no second try.
        if (last_try or verification is None or result.outcome == Outcome.PASSED.value
                or run.stop_reason == "escalated"):
            break
        transcript.write({"event": "try", "try": try_number, "outcome": result.outcome})
        run = loop.resume(feedback_message(verification, canary))
    result.tries, result.max_tries = tries, retries + 1
    annotate = getattr(loop, "record", None)  # what the driver adds (a pipeline: its phases)
    if annotate is not None:
        annotate(result)
    finish(result, started)
    transcript.write({"event": "result", **result.model_dump(mode="json")})
    if settings.keep_worktrees:
        result.worktree = str(worktree)
    return result


def attempt_info(canary: Canary, model: ModelSpec, repeat: int, nodeid: str, worktree: Path) -> Attempt:
    """What the attempt hooks are told about an attempt: its identity, running in ``worktree``."""
    return Attempt.of(canary, model, repeat, nodeid).at(worktree)


def _retries_for(canary: Canary, default: int) -> int:
    return default if canary.retries_with_feedback is None else canary.retries_with_feedback
