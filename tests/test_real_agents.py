"""Real agents from the registries: mini-swe-agent and Aider, run from the
registry entries in examples/agents/real/agentbench.toml, unchanged, through the recording proxy
against ScriptedServer, in the attempt's sandbox.

Each agent is skipped, with the reason, when it is not installed: mini-swe-agent by the `agents`
extra (it then sits beside this interpreter), Aider in a virtualenv of its own (it pins its own
litellm and openai) at /opt/agents/aider, or wherever $AGENTBENCH_AIDER (its `aider` program) says.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from pytest_agentbench.external.run import run_external_agent
from pytest_agentbench.run.session import JsonlTranscript
from pytest_agentbench.sandbox.commands import Sandbox, bubblewrap_problem, command_env
from pytest_agentbench.schemas.canary import ResolvedBudget
from pytest_agentbench.testing import ScriptedServer, call, say

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXAMPLES = Path(__file__).parents[1] / "examples" / "agents" / "real" / "agentbench.toml"
REGISTRY = tomllib.loads(EXAMPLES.read_text(encoding="utf-8"))["agents"]
PROMPT = "Create hello.py that prints hi."
SOLVED = "print('hi')\n"
DONE = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"

tiers = pytest.mark.parametrize("jail", [
    pytest.param(True, marks=pytest.mark.skipif(bool(bubblewrap_problem()), reason="no bubblewrap"),
                 id="bubblewrap"),
    pytest.param(False, id="none")])
jailed = pytest.mark.skipif(bool(bubblewrap_problem()), reason="no bubblewrap")


def mini_program() -> str:
    beside = Path(sys.executable).with_name("mini")
    found = str(beside) if beside.exists() else shutil.which("mini")
    if not found:
        pytest.skip("mini-swe-agent is not installed (pip install 'pytest-agentbench[agents]')")
    return found


def aider_program() -> tuple[str, Path]:
    """Aider's program and the virtualenv it lives in (shown to the jail read-only)."""
    program = Path(os.environ.get("AGENTBENCH_AIDER") or REGISTRY["aider"]["command"][0])
    if not program.exists():
        pytest.skip(f"Aider is not installed at {program} (python -m venv /opt/agents/aider && "
                    f"/opt/agents/aider/bin/pip install aider-chat==0.86.2, or set $AGENTBENCH_AIDER)")
    return str(program), program.parent.parent


def run(tmp_path: Path, name: str, program: str, script, jail: bool, turns: int = 10,
        read_only: list[Path] | None = None):
    """The registry entry ``name``, its program resolved to ``program``, against ``script``."""
    entry = REGISTRY[name]
    worktree, home = tmp_path / "wt", tmp_path / "home"
    worktree.mkdir()
    home.mkdir()
    transcript_path = tmp_path / "t.jsonl"
    transcript = JsonlTranscript(transcript_path)
    values = {"prompt": PROMPT, "model": "scripted-model", "api_key": "sk-none",
              "prompt_file": str(tmp_path / "prompt.txt")}
    try:
        with ScriptedServer(script) as server:
            agent = run_external_agent(
                [program, *entry["command"][1:]], entry.get("env", {}), values, command_env(home), worktree,
                Sandbox([worktree, home], [], jail=jail), server.url,
                ResolvedBudget(turns=turns, tokens=1_000_000, seconds=60), transcript,
                read_only=read_only if read_only is not None else [Path(p) for p in entry.get("read_only", [])])
    finally:
        transcript.close()
    agent.requests = server.requests
    agent.events = [json.loads(line) for line in transcript_path.read_text().splitlines()]
    return agent, worktree, home


def test_the_examples_are_valid_registry_entries():
    agents = pytest.importorskip("pytest_agentbench.schemas.agents", reason="the agent registry is not there yet")
    registry = agents.load_agents(EXAMPLES.parent)
    assert sorted(registry) == ["aider", "mini", "mini-text"]
    assert registry["aider"].read_only == ["/opt/agents/aider"]


def assert_solved(agent, worktree: Path, turns: int) -> None:
    assert agent.exit_code == 0, agent.output[-3000:]
    assert (worktree / "hello.py").read_text() == SOLVED
    # The agent's own state (trajectory, histories) stays out of the worktree, hence out of the diff.
    assert sorted(p.name for p in worktree.iterdir()) == ["hello.py"]
    result = agent.result
    assert (result.stop_reason, result.turns) == ("final", turns), result.detail
    assert len(agent.requests) == turns
    assert all(body["model"] == "scripted-model" for body in agent.requests)  # "openai/" is litellm's
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    assert len([e for e in agent.events if e["event"] == "turn"]) == turns


def assert_stopped_at_the_turn_budget(agent, turns: int) -> None:
    result = agent.result
    assert (result.stop_reason, result.turns) == ("budget_turns", turns), (result.detail, agent.output[-3000:])
    assert len(agent.requests) == turns  # the request past the budget never reached the model
    assert agent.killed_by == "proxy" and not result.claimed_done


# -- mini-swe-agent, default config: one native tool, `bash` ------------------------------------

def mini_solves(body):
    # Two steps whatever the conversation holds: write the file, then the command that submits.
    done = any(m.get("role") == "tool" for m in body["messages"])
    return call("bash", command=DONE if done else "printf \"print('hi')\\n\" > hello.py")


@tiers
def test_mini_swe_agent_solves_the_task_through_the_proxy(tmp_path, jail):
    agent, worktree, home = run(tmp_path, "mini", mini_program(), mini_solves, jail)
    assert_solved(agent, worktree, turns=2)
    assert agent.result.tool_calls == 2 and agent.result.malformed_tool_calls == 0
    assert [tool["function"]["name"] for tool in agent.requests[0]["tools"]] == ["bash"]
    trajectory = json.loads((home / ".config/mini-swe-agent/last_mini_run.traj.json").read_text())
    assert trajectory["info"]["exit_status"] == "Submitted"


@jailed
def test_mini_swe_agent_that_loops_is_stopped_by_the_proxy_at_the_turn_budget(tmp_path):
    agent, _, _ = run(tmp_path, "mini", mini_program(), lambda body: call("bash", command="true"),
                      True, turns=3)
    assert_stopped_at_the_turn_budget(agent, 3)


# -- mini-swe-agent, text protocol: no tools offered, one ```mswea_bash_command block -----------

def mini_text_solves(body):
    done = any(m.get("role") == "user" and "<returncode>0</returncode>" in str(m.get("content"))
               for m in body["messages"][2:])
    command = DONE if done else "printf \"print('hi')\\n\" > hello.py"
    return say(f"THOUGHT: {'submit' if done else 'write the file'}.\n\n```mswea_bash_command\n{command}\n```")


@jailed
def test_mini_swe_agent_text_protocol_solves_the_task_through_the_proxy(tmp_path):
    agent, worktree, _ = run(tmp_path, "mini-text", mini_program(), mini_text_solves, True)
    assert_solved(agent, worktree, turns=2)
    assert "tools" not in agent.requests[0]
    # No native tool calls: the proxy sees text only, so tool-call counts do not apply.
    assert agent.result.tool_calls == 0 and agent.result.malformed_tool_calls == 0


# -- Aider, whole edit format, one-shot --message -----------------------------------------------

def aider_reply(content: str):
    return lambda body: say(f"Here is the file.\n\nhello.py\n```\n{content}```\n")


@tiers
def test_aider_solves_the_task_through_the_proxy(tmp_path, jail):
    program, venv = aider_program()
    agent, worktree, _ = run(tmp_path, "aider", program, aider_reply(SOLVED), jail, read_only=[venv])
    assert_solved(agent, worktree, turns=1)
    assert agent.requests[0]["stream"] is True  # Aider streams: the proxy reassembled the reply
    assert "Applied edit to hello.py" in agent.output


@jailed
def test_aider_that_loops_is_stopped_by_the_proxy_at_the_turn_budget(tmp_path):
    # A file that never compiles: Aider's auto-lint sends it back to the model again and again.
    program, venv = aider_program()
    agent, _, _ = run(tmp_path, "aider", program, aider_reply("print('hi'\n"), True, turns=2,
                      read_only=[venv])
    assert_stopped_at_the_turn_budget(agent, 2)
    reflected = agent.requests[1]["messages"][-1]["content"]
    assert "Fix any errors below" in reflected and "SyntaxError" in reflected, reflected


@jailed
def test_mini_swe_agent_text_format_errors_are_its_own_and_not_malformed_tool_calls(tmp_path):
    # Replies without a command block: mini answers each with its format-error message and gives up
    # after three in a row (RepeatedFormatError), still exiting 0. The proxy counts the turns; tool
    # and malformed-call counts do not apply to a text protocol and stay 0.
    agent, worktree, home = run(tmp_path, "mini-text", mini_program(),
                                lambda body: say("I would write the file now."), True)
    assert agent.exit_code == 0 and list(worktree.iterdir()) == []
    assert (agent.result.stop_reason, agent.result.turns) == ("final", 3), agent.result.detail
    assert (agent.result.tool_calls, agent.result.malformed_tool_calls) == (0, 0)
    assert "mswea_bash_command" in agent.requests[1]["messages"][-1]["content"]  # mini's re-ask
    trajectory = json.loads((home / ".config/mini-swe-agent/last_mini_run.traj.json").read_text())
    assert trajectory["info"]["exit_status"] == "RepeatedFormatError"


@jailed
def test_aider_that_claims_a_change_it_did_not_make_exits_0_with_the_worktree_untouched(tmp_path):
    # Phantom material: the exit code says done, only verification of the worktree says otherwise.
    program, venv = aider_program()
    agent, worktree, _ = run(tmp_path, "aider", program, lambda body: say("Done: I created hello.py."), True,
                             read_only=[venv])
    assert agent.exit_code == 0 and list(worktree.iterdir()) == []
    assert (agent.result.stop_reason, agent.result.turns) == ("final", 1), agent.result.detail
