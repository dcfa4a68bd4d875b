"""One attempt driven by a registry agent: the attempt's own environment (worktree,
scratch home, sandbox, transcript) handed to :func:`~pytest_agentbench.external.run.run_external_agent`.
The result is a :class:`~pytest_agentbench.agent.loop.LoopResult`, so the runner verifies and
classifies it exactly as it does the built-in loop's.

With ``retries_with_feedback`` the agent's program runs once per try (:class:`AgentTries`): it
keeps no conversation across runs, so each further try gets the task again with the feedback, in
the same worktree, and the tries' counters are added up (:func:`add_try`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import shlex
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_agentbench.agent.attempt_stats import AttemptStats
from pytest_agentbench.agent.loop import LoopResult
from pytest_agentbench.external.run import run_external_agent, visible_paths
from pytest_agentbench.run.variants import PROXY_SAMPLING_KEYS
from pytest_agentbench.sandbox.commands import run_command
from pytest_agentbench.schemas.agents import fill
from pytest_agentbench.schemas.canary import Canary, ResolvedBudget
from pytest_agentbench.schemas.models import ModelSpec

if TYPE_CHECKING:
    from pytest_agentbench.attempt.identity import Attempt
    from pytest_agentbench.attempt.runner import AttemptEnvironment
    from pytest_agentbench.run.session import AgentbenchSession
    from pytest_agentbench.schemas.agents import AgentSpec

PROMPT_FILE = "agentbench-prompt.md"  # in the attempt's scratch home, which the jail shows writable


def agent_budget(session: AgentbenchSession, model: ModelSpec, budget: ResolvedBudget) -> ResolvedBudget:
    """The attempt's budget under ``model.agent``'s registry entry: its ``timeout`` caps the time
    budget (and is then what the record says the attempt had)."""
    spec: AgentSpec = session.settings.agent_specs[model.agent]
    if spec.timeout is not None and spec.timeout < budget.seconds:
        return budget.model_copy(update={"seconds": spec.timeout})
    return budget


class AgentTries:
    """A registry agent's tries of one attempt, driven like the built-in loop (attempt/runner.py):
    ``run(prompt)`` for the first try, ``resume(feedback)`` for each further one. Each returns the
    attempt's record so far: counters added up over the tries, the end (stop reason, detail, final
    message, claim) the last try's."""

    def __init__(self, session: AgentbenchSession, workspace: AttemptEnvironment, canary: Canary,
                 model: ModelSpec, budget: ResolvedBudget, info: Attempt) -> None:
        self.session, self.workspace, self.model = session, workspace, model
        self.spec: AgentSpec = session.settings.agent_specs[model.agent]
        self.budget = agent_budget(session, model, budget)
        self.task = canary.prompt
        self.prompt_file = workspace.home / PROMPT_FILE
        self.read_only = [Path(p) for p in self.spec.read_only]
        if any("pytest_agentbench" in part for part in self.spec.command):
            # The built-in loop as an agent (agent/__main__.py): an editable install keeps the
            # package outside the interpreter's installation, which is all the jail shows by itself.
            self.read_only.append(Path(__file__).resolve().parents[1])
        self.on_request = None
        hook = session.hook
        hooked = hook is not None and bool(hook.pytest_agentbench_request.get_hookimpls())
        # A variant's sampling settings reach the agent's requests through the proxy, as they
        # reach the built-in loop's (anything else a variant changes is refused at start).
        sampling = {key: getattr(model, key) for key in model.variant_settings  # validated values
                    if key in PROXY_SAMPLING_KEYS}
        if sampling or hooked:
            def on_request(body: dict[str, Any]) -> None:
                body.update(sampling)
                if hooked:
                    hook.pytest_agentbench_request(body=body, attempt=info)
            self.on_request = on_request
        self.result: LoopResult | None = None

    def run(self, prompt: str) -> LoopResult:
        """The first try: the entry's ``setup`` (only here: the tree it prepared stays), then the
        agent on ``prompt``."""
        self.task = prompt
        workspace = self.workspace
        if workspace.sandbox is not None:
            # The built-in loop's persistent jail is not used: the agent gets a jail of its own.
            workspace.sandbox.close()
        budget = self.budget
        values = self._values(prompt)
        started = time.monotonic()
        if self.spec.setup:
            problem = _setup(self.spec, values, workspace, self.read_only, budget.seconds)
            if problem:
                self.result = LoopResult(stop_reason="infra_error", detail=problem, infra_kind="agent_setup")
                return self.result
            budget = budget.model_copy(update={"seconds": max(budget.seconds - (time.monotonic() - started), 0.001)})
        self.result = self._run_program(values, budget)
        return self.result

    def resume(self, feedback: str) -> LoopResult:
        """One more try in the same worktree (the change so far stays), with the full budget. The
        program keeps no conversation across runs, so its prompt is the task again, a blank line,
        then the feedback."""
        assert self.result is not None, "resume() before run()"
        latest = self._run_program(self._values(f"{self.task}\n\n{feedback}"), self.budget)
        self.result = add_try(self.result, latest)
        return self.result

    def _values(self, prompt: str) -> dict[str, str]:
        """The command's placeholders for one try; ``{prompt_file}`` holds this try's prompt."""
        self.prompt_file.write_text(prompt, encoding="utf-8")
        return {"prompt": prompt, "prompt_file": str(self.prompt_file),
                "model": self.model.model or self.model.name,
                # The agent talks to the proxy, which adds the real key: the agent gets a dummy
                # one (many clients refuse to start without any).
                "api_key": "agentbench"}

    def _run_program(self, values: dict[str, str], budget: ResolvedBudget) -> LoopResult:
        """One run of the agent's program through a fresh proxy: its record counts this try only
        and the proxy enforces the turn and token budgets per try, as the built-in loop does."""
        workspace, spec = self.workspace, self.spec
        run = run_external_agent(spec.command, spec.env, values, workspace.env, workspace.worktree,
                                 workspace.sandbox, self.session.endpoint_of(self.model), budget,
                                 transcript=workspace.transcript, api_key=self.model.api_key,
                                 read_only=self.read_only, on_request=self.on_request)
        result = run.result
        if result.stop_reason == "final":
            result.claimed = spec.done.claimed(run.exit_code, run.output)
        return result


# How the attempt ended is the last try's; the seed and the digest are set apart (add_try); every
# other LoopResult field is a counter that adds up.
_LAST_TRY = frozenset({"stop_reason", "detail", "infra_kind", "final_message", "claimed", "limit_hit",
                       "time_budget", "last_reply", "escalation_reason"})
_NOT_ADDED = _LAST_TRY | {"seed", "conversation_digest"}


def add_try(total: LoopResult, latest: LoopResult) -> LoopResult:
    """The attempt's record after one more try: every counter of ``latest`` (turns, tokens, tool
    calls, malformed calls, model/tool/wall seconds, finish reasons, ``stats``…) added to
    ``total``'s, as the built-in loop's counters run on across tries; how the attempt ended (stop
    reason, detail, final message, claim) is ``latest``'s. The seed is the first request's; the
    conversation digest covers both tries, so identical repeats still fingerprint alike."""
    merged = dataclasses.replace(latest, time_budget=dict(latest.time_budget))
    for item in dataclasses.fields(LoopResult):
        if item.name not in _NOT_ADDED:
            setattr(merged, item.name, _added(item.name, getattr(total, item.name), getattr(latest, item.name)))
    merged.seed = total.seed if total.seed is not None else latest.seed
    if total.conversation_digest or latest.conversation_digest:
        both = f"{total.conversation_digest or '-'}+{latest.conversation_digest or '-'}"
        merged.conversation_digest = hashlib.sha256(both.encode()).hexdigest()[:16]
    return merged


def _added(name: str, total: Any, latest: Any) -> Any:
    if isinstance(total, bool):  # before int: a bool is an int
        return total or latest  # tokens_estimated: any try's estimate makes the sum one
    if isinstance(total, Counter):
        added = Counter(total)
        added.update(latest)
        return added
    if isinstance(total, (int, float)):
        return total + latest
    if isinstance(total, list):  # records per event (sub_agents): every try's, in order
        return [*total, *latest]
    if isinstance(total, AttemptStats):
        return AttemptStats(**{item.name: _added(f"{name}.{item.name}", getattr(total, item.name),
                                                 getattr(latest, item.name))
                               for item in dataclasses.fields(AttemptStats)})
    # A new LoopResult field must say how tries add up: here, or in _LAST_TRY.
    raise TypeError(f"add_try: no rule to add up {name} ({type(total).__name__})")


def _setup(spec: AgentSpec, values: dict[str, str], workspace: AttemptEnvironment,
           read_only: list[Path], seconds: float) -> str:
    """The entry's ``setup`` command, in the same sandbox, before the agent (and before the proxy:
    it has no model to talk to). A failing setup is the harness's problem, not the model's."""
    argv = fill(spec.setup or [], {**values, "base_url": "", "workdir": str(workspace.worktree)})
    sandbox = workspace.sandbox
    if sandbox is not None:
        sandbox = dataclasses.replace(sandbox, persistent=False,
                                      readonly=[*sandbox.readonly, *visible_paths(argv, read_only)])
    result = run_command(shlex.join(argv), workspace.worktree, seconds, workspace.env, sandbox=sandbox)
    workspace.transcript.write({"event": "agent_setup", "argv": argv, "exit_code": result.exit_code,
                                "output_tail": result.output[-4000:]})
    if result.ok:
        return ""
    return f"the agent's setup command failed ({result.describe()[:500]})"
