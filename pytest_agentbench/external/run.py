"""Running an external agent for one attempt: its command in the attempt's sandbox, its model
traffic through a :class:`~pytest_agentbench.external.proxy.RecordingProxy`, its end decided by
the agent (it exits), the proxy (a budget, a dead server) or the deadline (its tree is killed).

The result is the loop's own record (:class:`~pytest_agentbench.agent.loop.LoopResult`), so the
verdict (verification, outcome, reports) is the built-in loop's, unchanged.

How the agent reaches the model: in the bubblewrap tier the proxy listens on a Unix socket in a
private host directory (mode 0700); the socket alone is bound into the jail, at
``/agentbench-proxy/proxy.sock`` on the jail's read-only root, so the agent can neither reach the
host directory, nor put files beside the socket, nor replace it. ``forwarder.py`` serves it on the
jail's own loopback at ``http://127.0.0.1:18080/v1`` and then runs the agent. The jail has its own
network namespace, so that address is the only thing the agent can reach. In the ``none`` tier
there is no socket and no directory: the proxy listens on a loopback TCP port and the agent runs
unjailed (as ``shell`` does); whoever connects to that port is held to the same budget.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_agentbench.agent.loop import LoopResult, Transcript
from pytest_agentbench.external.proxy import RecordingProxy
from pytest_agentbench.sandbox.commands import (
    DEFAULT_OUTPUT_CAP,
    SYSTEM_DIRS,
    LocalProcess,
    Sandbox,
    interpreter_paths,
    rlimit_prefix,
    stream_output,
)
from pytest_agentbench.schemas.agents import fill
from pytest_agentbench.schemas.canary import ResolvedBudget
from pytest_agentbench.trees import safe_fs

JAIL_PORT = 18080
SOCKET_IN_JAIL = "/agentbench-proxy/proxy.sock"


@functools.lru_cache(maxsize=1)
def forwarder_source() -> str:
    return Path(__file__).with_name("forwarder.py").read_text(encoding="utf-8")


@dataclass
class AgentRun:
    """What the agent did: the loop record (from the proxy) and its own exit and output."""

    result: LoopResult
    exit_code: int | None
    output: str
    killed_by: str | None = None  # "deadline" | "proxy" | None (the agent exited)
    argv: list[str] = field(default_factory=list)


def run_external_agent(command_template: list[str], env_template: dict[str, str], values: dict[str, str],
                       base_env: dict[str, str], worktree: Path, sandbox: Sandbox | None,
                       upstream: str, budget: ResolvedBudget, transcript: Transcript | None = None,
                       api_key: str | None = None, output_cap: int = DEFAULT_OUTPUT_CAP,
                       read_only: list[Path] | None = None,
                       on_request: Callable[[dict[str, Any]], None] | None = None) -> AgentRun:
    """Run the agent's command in ``worktree`` until it exits, the proxy stops it or
    ``budget.seconds`` pass. The templates' placeholders are filled from ``values`` plus
    ``{base_url}`` (where the agent finds the proxy) and ``{workdir}``; its environment is
    ``base_env`` (the sandbox's cleared one) plus the filled ``env_template``."""
    jailed = sandbox is not None and sandbox.jail
    # A Unix socket's path is limited to about 107 bytes: a long TMPDIR would make it unbindable.
    short_tmp = None if len(tempfile.gettempdir()) <= 60 else "/tmp"
    socket_dir = Path(tempfile.mkdtemp(prefix="agentbench-proxy-", dir=short_tmp)) if jailed else None
    started = time.monotonic()
    try:
        proxy = RecordingProxy(upstream, budget, transcript, api_key,
                               socket_path=socket_dir / "proxy.sock" if socket_dir else None,
                               on_request=on_request)
        with proxy:
            base_url = f"http://127.0.0.1:{JAIL_PORT}/v1" if jailed else proxy.url
            filled = {**values, "base_url": base_url, "workdir": str(worktree)}
            argv = fill(command_template, filled)
            env = {**base_env, **fill(env_template, filled)}
            if jailed:
                assert sandbox is not None and socket_dir is not None
                sandbox = dataclasses.replace(sandbox, persistent=False,
                                              readonly=[*sandbox.readonly, *visible_paths(argv, read_only)])
                inner = [sys.executable, "-I", "-S", "-c", forwarder_source(),
                         SOCKET_IN_JAIL, str(JAIL_PORT), "--", *argv]
                command = sandbox.jail_argv(worktree, env, [*rlimit_prefix(sandbox.limits, True), *inner],
                                            readonly_binds=((socket_dir / "proxy.sock", SOCKET_IN_JAIL),))
            else:
                limits = sandbox.limits if sandbox else None
                command = [*(rlimit_prefix(limits, False) if limits else []), *argv]
            if transcript is not None:
                transcript.write({"event": "external_agent", "argv": argv, "jailed": jailed})
            process = LocalProcess(subprocess.Popen(
                command, cwd=worktree, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True))
            buffer, timed_out, stopped = stream_output(process, started + budget.seconds, output_cap, sandbox,
                                                 should_stop=proxy.record.stop.is_set)
    finally:
        if socket_dir is not None:
            safe_fs.remove_tree(socket_dir)
    result = proxy.record.result
    result.wall_seconds = time.monotonic() - started
    exit_code = None if timed_out or stopped else process.returncode
    killed_by = "deadline" if timed_out else "proxy" if stopped else None
    if not stopped:
        proxy.record.agent_ended("the agent was stopped at its time budget" if timed_out
                                 else f"the agent exited with code {exit_code}")
    if timed_out and not proxy.record.stop.is_set():
        result.stop_reason, result.limit_hit = "budget_time", "time_budget"
        result.detail = f"time budget of {budget.seconds:g}s exhausted: the agent was stopped"
    elif not proxy.record.stop.is_set():
        result.stop_reason = "final"
        result.detail = f"the agent exited with code {exit_code} after {result.turns} turns"
    elif killed_by is not None:
        result.detail += "; the harness stopped the agent"
    if result.stop_reason != "final":
        result.claimed = False
    output = buffer.text()
    if transcript is not None:
        transcript.write({"event": "external_agent_end", "exit_code": exit_code, "killed_by": killed_by,
                          "proxy_refused": proxy.record.refused, "output_tail": output[-4000:]})
        transcript.write({"event": "stop", "reason": result.stop_reason, "detail": result.detail})
    return AgentRun(result, exit_code, output, killed_by, list(argv))


def visible_paths(argv: list[str], read_only: list[Path] | None) -> list[Path]:
    """What the jail must show the agent, read-only: its program (when not a system one), the
    existing absolute paths among its arguments and the registry's ``read_only`` paths."""
    paths = [Path(p) for p in read_only or []]
    program = shutil.which(argv[0]) if argv else None
    candidates = [program] if program else []
    candidates += [a for a in argv[1:] if a.startswith("/")]
    # Already in the jail: the system directories and the interpreter running pytest.
    shown = [Path("/", name) for name in SYSTEM_DIRS] + list(interpreter_paths())
    for candidate in candidates:
        path = Path(candidate)
        if path.exists() and not any(path.is_relative_to(root) for root in shown) and path not in paths:
            paths.append(path)
    return paths
