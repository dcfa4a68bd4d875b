"""One attempt driven by a registry agent (issue 18): the attempt's own environment (worktree,
scratch home, sandbox, transcript) handed to :func:`~pytest_agentbench.external.run.run_external_agent`.
The result is a :class:`~pytest_agentbench.agent.loop.LoopResult`, so the runner verifies and
classifies it exactly as it does the built-in loop's.
"""

from __future__ import annotations

import dataclasses
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_agentbench.agent.loop import LoopResult
from pytest_agentbench.canary import Canary, ResolvedBudget
from pytest_agentbench.external.run import fill, run_external_agent, visible_paths
from pytest_agentbench.models import ModelSpec
from pytest_agentbench.sandbox import run_command

if TYPE_CHECKING:
    from pytest_agentbench.agents import AgentSpec
    from pytest_agentbench.runner import AttemptEnvironment
    from pytest_agentbench.session import AgentbenchSession

PROMPT_FILE = "agentbench-prompt.md"  # in the attempt's scratch home, which the jail shows writable


def agent_budget(session: AgentbenchSession, model: ModelSpec, budget: ResolvedBudget) -> ResolvedBudget:
    """The attempt's budget under ``model.agent``'s registry entry: its ``timeout`` caps the time
    budget (and is then what the record says the attempt had)."""
    spec: AgentSpec = session.settings.agent_specs[model.agent]
    if spec.timeout is not None and spec.timeout < budget.seconds:
        return budget.model_copy(update={"seconds": spec.timeout})
    return budget


def run_agent(session: AgentbenchSession, workspace: AttemptEnvironment, canary: Canary,
              model: ModelSpec, budget: ResolvedBudget, info: dict[str, Any]) -> LoopResult:
    """Run ``model.agent``'s registry entry on this attempt's worktree and return its record.
    ``info`` is the attempt as the hooks see it (``pytest_agentbench_request``'s ``attempt``)."""
    spec: AgentSpec = session.settings.agent_specs[model.agent]
    if workspace.sandbox is not None:
        # The built-in loop's persistent jail is not used: the agent gets a jail of its own.
        workspace.sandbox.close()
    budget = agent_budget(session, model, budget)
    prompt_file = workspace.home / PROMPT_FILE
    prompt_file.write_text(canary.prompt, encoding="utf-8")
    api_key = model.api_key
    values = {"prompt": canary.prompt, "prompt_file": str(prompt_file), "model": model.model or model.name,
              # The agent talks to the proxy, which adds the real key: the agent gets a dummy one
              # (many clients refuse to start without any).
              "api_key": "agentbench"}
    read_only = [Path(p) for p in spec.read_only]
    if any("pytest_agentbench" in part for part in spec.command):
        # The built-in loop as an agent (agent/__main__.py): an editable install keeps the package
        # outside the interpreter's installation, which is all the jail shows by itself.
        read_only.append(Path(__file__).resolve().parents[1])
    started = time.monotonic()
    if spec.setup:
        problem = _setup(spec, values, workspace, read_only, budget.seconds)
        if problem:
            return LoopResult(stop_reason="infra_error", detail=problem, infra_kind="agent_setup")
        budget = budget.model_copy(update={"seconds": max(budget.seconds - (time.monotonic() - started), 0.001)})
    on_request = None
    hook = session.hook
    if hook is not None and hook.pytest_agentbench_request.get_hookimpls():
        def on_request(body: dict[str, Any]) -> None:
            hook.pytest_agentbench_request(body=body, attempt=info)
    run = run_external_agent(spec.command, spec.env, values, workspace.env, workspace.worktree,
                             workspace.sandbox, session.endpoint_of(model), budget,
                             transcript=workspace.transcript, api_key=api_key, read_only=read_only,
                             on_request=on_request)
    result = run.result
    if result.stop_reason == "final":
        result.claimed = spec.done.claimed(run.exit_code, run.output)
    return result


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
