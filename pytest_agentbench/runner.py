"""One attempt, end to end: worktree → agent loop → verification → classified result."""

from __future__ import annotations

import itertools
import re
import time

from pytest_agentbench.agent.loop import SYSTEM_PROMPT, AgentLoop, LoopResult
from pytest_agentbench.agent.tools import ToolContext
from pytest_agentbench.canary import Canary, ResolvedBudget
from pytest_agentbench.models import ModelSpec
from pytest_agentbench.outcome import Outcome, classify
from pytest_agentbench.results import AttemptResult, CheckRecord, TryRecord
from pytest_agentbench.sandbox import command_env
from pytest_agentbench.servers.managed import ServerStartError
from pytest_agentbench.servers.preflight import ServerInfo
from pytest_agentbench.session import AgentbenchSession, JsonlTranscript
from pytest_agentbench.verify import Verification, run_verification


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:150]


def _tools_for(canary: Canary, model: ModelSpec) -> list[str] | None:
    """The canary's tool list, narrowed by the model's own subset when it has one."""
    if model.tools is None:
        return canary.tools
    if canary.tools is None:
        return model.tools
    return [name for name in canary.tools if name in model.tools]


def run_attempt(
    session: AgentbenchSession, canary: Canary, model: ModelSpec, repeat: int, nodeid: str
) -> AttemptResult:
    started = time.monotonic()
    settings = session.settings
    budget = canary.resolved_budget(settings.turns, settings.tokens, settings.seconds)
    try:
        session.ensure_endpoint(model)
        server = session.preflight(model)
    except ServerStartError as exc:
        detail, server = f"model server could not be started: {exc}", None
    else:
        detail = "; ".join(server.problems) and f"server preflight failed: {'; '.join(server.problems)}"
    if detail:
        # No usable server, no attempt: an infrastructure error, never a model failure.
        return AttemptResult(
            canary=canary.id, tier=canary.tier, model=model.name, repeat=repeat, nodeid=nodeid,
            tags=canary.tags, outcome=Outcome.INFRA_ERROR.value, stop_reason="setup",
            detail=detail, budget=budget.model_dump(), server=server.to_json() if server else None,
            wall_seconds=round(time.monotonic() - started, 3),
        )
    name = slug(f"{canary.id}-{model.name}-r{repeat}")
    baseline = session.workspaces.baseline(canary.repo_dir, canary.id)
    worktree = session.workspaces.create_worktree(baseline, name)
    home = worktree.parent / f"{name}.home"
    home.mkdir(exist_ok=True)
    env = command_env(home)
    sandbox = session.sandbox_for(worktree, home, baseline.path / ".git")
    transcript = session.transcript_for(name)
    transcript.write({"event": "attempt", "nodeid": nodeid, "canary": canary.id, "model": model.name,
                      "repeat": repeat, "run_id": session.run_id, "worktree": str(worktree),
                      "endpoint": model.describe()})
    try:
        loop = AgentLoop(
            client=session.client_for(model),
            context=ToolContext(root=worktree, env=env, remaining_seconds=lambda: budget.seconds,
                                sandbox=sandbox),
            budget=budget,
            tools=_tools_for(canary, model),
            max_malformed=model.max_format_retries or settings.max_malformed,
            system_prompt=model.system_prompt or SYSTEM_PROMPT,
            transcript=transcript,
        )
        run = loop.run(canary.prompt)
        retries = _retries_for(canary, settings.retries_with_feedback)
        tries: list[TryRecord] = []
        for try_number in itertools.count(1):
            last_try = try_number > retries
            result = _loop_result(canary, model, repeat, nodeid, run, budget, transcript, server)
            if run.stop_reason == "infra_error":
                # A server fault says nothing about the model: no verification, no verdict.
                result.detail = session.explain_fault(model, f"model server fault: {run.detail}")
            else:
                # Before a retry the hidden tests leave the tree again: the model never sees them.
                verification = run_verification(canary, worktree, baseline.commit, env, sandbox,
                                                keep_hidden=last_try)
                _add_verdict(result, canary, run, verification)
            if retries:
                tries.append(TryRecord(outcome=result.outcome, stop_reason=run.stop_reason,
                                       turns=run.turns, tokens=run.total_tokens, detail=result.detail))
            if last_try or result.outcome in (Outcome.PASSED.value, Outcome.INFRA_ERROR.value):
                break
            transcript.write({"event": "try", "try": try_number, "outcome": result.outcome})
            run = loop.resume(feedback_message(verification, canary.verify.expect_changed))
        result.tries = tries
        result.wall_seconds = round(time.monotonic() - started, 3)
        result.harness_seconds = round(result.wall_seconds - result.model_seconds, 3)
        transcript.write({"event": "result", **result.model_dump(mode="json")})
        if settings.keep_worktrees:
            result.worktree = str(worktree)
        return result
    finally:
        transcript.close()
        if not settings.keep_worktrees:
            session.workspaces.remove_worktree(baseline, worktree)


def _retries_for(canary: Canary, default: int) -> int:
    return default if canary.retries_with_feedback is None else canary.retries_with_feedback


def _loop_result(canary: Canary, model: ModelSpec, repeat: int, nodeid: str, run: LoopResult,
                 budget: ResolvedBudget, transcript: JsonlTranscript, server: ServerInfo) -> AttemptResult:
    """The attempt's record from the loop's counters; the verdict is added after verification."""
    result = AttemptResult(
        canary=canary.id, tier=canary.tier, model=model.name, repeat=repeat, nodeid=nodeid,
        tags=canary.tags, outcome=Outcome.INFRA_ERROR.value, stop_reason=run.stop_reason,
        detail=run.detail, turns=run.turns, prompt_tokens=run.prompt_tokens,
        completion_tokens=run.completion_tokens, tool_calls=run.tool_calls,
        malformed_tool_calls=run.malformed_tool_calls, claimed_done=run.claimed_done,
        model_seconds=round(run.model_seconds, 3), tokens_estimated=run.tokens_estimated,
        cached_prompt_tokens=run.cached_prompt_tokens, finish_reasons=dict(run.finish_reasons),
        quirks=dict(run.quirks), budget=budget.model_dump(), transcript=str(transcript.path),
        server=server.to_json(),
    )
    if run.server_predicted_ms > 0:
        result.tokens_per_second = round(run.server_predicted_tokens / (run.server_predicted_ms / 1000), 2)
    elif run.model_seconds > 0 and not run.tokens_estimated:
        result.tokens_per_second = round(run.completion_tokens / run.model_seconds, 2)
    return result


def _add_verdict(result: AttemptResult, canary: Canary, run: LoopResult,
                 verification: Verification) -> None:
    outcome = classify(
        run.stop_reason,
        checks_passed=verification.checks_passed,
        qualifying_change=verification.qualifying_change,
        protected_ok=not verification.protected_touched,
    )
    result.outcome = outcome.value
    result.files_changed = verification.diff.files_changed
    result.insertions = verification.diff.insertions
    result.deletions = verification.diff.deletions
    result.checks = [CheckRecord(command=c.command, exit_code=c.exit_code, timed_out=c.timed_out,
                                 seconds=c.seconds) for c in verification.checks]
    failing = verification.failing_check
    if failing is not None:
        result.check_output_tail = failing.output_tail
    if outcome is Outcome.PASSED:
        result.detail = f"checks pass; loop ended: {run.detail}"
    else:
        result.detail = "; ".join([run.detail, *verification.problems(canary.verify.expect_changed)])


def feedback_message(verification: Verification, expect_changed: list[str]) -> str:
    """What the model hears before its next try (Aider's wording: the tests are right)."""
    parts = ["Your changes do not pass the checks yet."]
    problems = [p for p in verification.problems(expect_changed) if not p.startswith("check `")]
    parts += [f"- {problem}" for problem in problems]
    failing = verification.failing_check
    if failing is not None:
        status = "timed out" if failing.timed_out else f"exit code {failing.exit_code}"
        parts.append(f"$ {failing.command}\n[{status}]\n{failing.output_tail.strip()}")
    parts.append("The checks are correct: don't change them. Fix the code so that they pass, "
                 "then reply with a short summary and no tool call.")
    return "\n\n".join(parts)
