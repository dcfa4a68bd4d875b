"""Per-process session state, kept in ``config.stash`` (never ``config._x``).

On the xdist controller it also collects the results that arrive on test reports; workers share
the controller's run id through ``workerinput`` so all transcripts land in one run directory.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_agentbench.agent.config import client_settings, probe_speed, with_model_problems
from pytest_agentbench.agent.encoding import json_text
from pytest_agentbench.agent.time_budget import SpeedMeter
from pytest_agentbench.run.progress import ProgressWriter
from pytest_agentbench.run.variants import Variant
from pytest_agentbench.sandbox.commands import (
    Sandbox,
    bubblewrap_problem,
    bwrap_has_size,
    check_paths,
)
from pytest_agentbench.sandbox.limits import SandboxLimits, unenforced_limits
from pytest_agentbench.sandbox.secrets import hide, make_undumpable
from pytest_agentbench.schemas.canary import Canary
from pytest_agentbench.schemas.models import ModelSpec
from pytest_agentbench.schemas.results import AttemptResult
from pytest_agentbench.servers.client import ChatClient
from pytest_agentbench.servers.endpoint_pool import (
    Endpoint,
    EndpointPool,
    Lease,
    PoolExhausted,
    connect_problem,
)
from pytest_agentbench.servers.http import http_client
from pytest_agentbench.servers.llama_server import server_command
from pytest_agentbench.servers.managed import (
    ServerPool,
    ServerStartError,
    free_port,
    log_tail,
    pid_alive,
)
from pytest_agentbench.servers.preflight import ServerInfo, preflight
from pytest_agentbench.servers.shared_prefix import SharedPrefix, worker_slot
from pytest_agentbench.trees import safe_fs
from pytest_agentbench.trees.workspace import TreeManager


def _to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _auth(model: ModelSpec) -> dict[str, str]:
    return {"Authorization": f"Bearer {model.api_key}"} if model.api_key else {}


@dataclass
class Settings:
    models: list[ModelSpec]
    repeats: int
    tiers: list[str]
    variants: list[Variant] = field(default_factory=lambda: [Variant()])  # --agentbench-sweep
    models_explicit: bool = True  # False: nothing was asked for, the embedded default is used
    workers: int = 1  # processes running attempts at once (xdist workers): a managed server's slots
    ks: list[int] = field(default_factory=list)  # pass@k / pass^k to report; default 1 and repeats
    confidence: float = 0.95
    gates: list[Any] = field(default_factory=list)  # gates.Gate
    max_cheat_rate: float | None = None  # --agentbench-max-cheat-rate (gates.evaluate_cheat_rate)
    gate_mode: str = "point"
    group_by_model: bool = False
    db_path: Path = Path(".agentbench/results.sqlite")
    resume: str | None = None  # a run id or "last"
    baseline: str | None = None  # a run id, "last" or a JSON report path
    fail_on_regression: bool = False
    sandbox: str = "auto"  # auto (bubblewrap when it works) | bubblewrap | none
    sandbox_limits: SandboxLimits = field(default_factory=SandboxLimits)  # both tiers
    turns: int | None = None
    tokens: int | None = None
    seconds: float | None = None
    max_output_tokens: int | None = None
    max_malformed: int = 3
    keep_worktrees: bool = False
    json_path: Path | None = None
    html_path: Path | None = None
    data_dir: Path = Path(".agentbench")
    work_dir: Path | None = None  # where worktrees go; default: the system temp dir
    request_timeout: float = 300.0
    retries: int = 3
    backoff: float = 0.5
    retries_with_feedback: int = 0  # the default of canaries that don't set their own
    time_budget: str = "fixed"  # fixed | scaled: the default of models that don't set their own
    agents: list[str] = field(default_factory=lambda: ["builtin"])  # --agentbench-agent (schemas/agents.py)
    agent_specs: dict[str, Any] = field(default_factory=dict)  # name → agents.AgentSpec

    def attempt_models(self) -> list[ModelSpec]:
        """Every model in every variant of the sweep, per agent, in a stable order (collection
        needs one). The builtin agent's specs are the variants' own, unchanged."""
        specs = [variant.apply(model) for model in self.models for variant in self.variants]
        return [spec if agent == "builtin" else spec.model_copy(update={"agent": agent})
                for agent in self.agents for spec in specs]


class JsonlTranscript:
    """One attempt's transcript: one JSON object per line, flushed as it goes so a crash keeps it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle = path.open("w", encoding="utf-8")
        self._started = time.monotonic()
        # Sees every event once written (live progress counts the turns: run/progress.py).
        self.observer: Callable[[dict[str, Any]], None] | None = None

    def write(self, event: dict[str, Any]) -> None:
        event = {"t": round(time.monotonic() - self._started, 4), **event}
        self._handle.write(json_text(event, default=str) + "\n")
        self._handle.flush()
        if self.observer is not None:
            self.observer(event)

    def close(self) -> None:
        self._handle.close()


@dataclass
class AgentbenchSession:
    settings: Settings
    run_id: str
    worker_id: str = "main"
    is_controller: bool = True
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    results: list[AttemptResult] = field(default_factory=list)
    gate_results: list[Any] = field(default_factory=list)  # gates.GateResult, set at session finish
    regressions: list[dict[str, Any]] = field(default_factory=list)  # vs --agentbench-baseline
    # Why --agentbench-baseline was dropped for this run (``last`` on a database with no earlier
    # run): said in the header and where the comparison would have been.
    baseline_skipped: str | None = None
    done: set[tuple[str, str, str, int]] = field(default_factory=set)  # resumed: attempts on record
    server_info: dict[str, dict[str, Any]] = field(default_factory=dict)  # preflight, per model
    _clients: dict[tuple[str, str, str], ChatClient] = field(default_factory=dict)
    _endpoint_failures: dict[str, str] = field(default_factory=dict)  # fail fast after a bad start
    _preflights: dict[tuple[str, str], ServerInfo] = field(default_factory=dict)
    # Decode speed per endpoint (scaled time budgets): one meter for all variants of a model.
    _speed_meters: dict[tuple[str, str], SpeedMeter] = field(default_factory=dict)
    _trees: TreeManager | None = None
    _secrets_guarded: bool = False
    # pytest's hook relay (config.hook), set at configure: how the runner and the reports call
    # the pytest_agentbench_* hooks (hookspecs.py). None outside a pytest run (unit tests).
    hook: Any = None
    # Registry models for judge checks (judging.clients.JudgeModels), set at configure; handed to
    # each attempt's verification in its CheckSetup. None outside a pytest run.
    judge_models: Any = None
    endpoints: dict[str, str] = field(default_factory=dict)  # model name -> managed server's URL
    _pools: dict[str, EndpointPool] = field(default_factory=dict)  # model name -> its pool
    # The slot this process holds for its running attempt (model name, lease); one at a time,
    # since a process runs one attempt at a time.
    _lease: tuple[str, Lease] | None = None
    undumpable: bool = False  # none tier: /proc/<pid>/environ closed to same-user processes
    _work_root: Path | None = None
    _progress: ProgressWriter | None = None
    # Shows the user a line mid-run, past pytest's output capture (run/startup.py sets it): a managed
    # server's model download takes minutes inside the first attempt.
    notice: Callable[[str], None] = field(default=_to_stderr)

    @property
    def run_dir(self) -> Path:
        return self.settings.data_dir / "runs" / self.run_id

    @property
    def progress(self) -> ProgressWriter:
        """This process's live progress file (run/progress.py)."""
        if self._progress is None:
            self._progress = ProgressWriter(self.run_dir / "progress", self.worker_id)
        return self._progress

    def transcript_for(self, nodeid_slug: str) -> JsonlTranscript:
        return JsonlTranscript(self.run_dir / "transcripts" / f"{nodeid_slug}.jsonl")

    @property
    def sandbox_tier(self) -> str:
        """``bubblewrap`` or ``none``; ``auto`` falls back (loudly, in the header) to none."""
        if self.settings.sandbox in ("none", "process"):  # "process": the tier's earlier name
            return "none"
        return "none" if bubblewrap_problem() else "bubblewrap"

    def guard_secrets(self) -> None:
        """Before the first command runs in this process: API keys out of the environment and,
        without an OS sandbox, this process's /proc entries closed to same-user processes."""
        if self._secrets_guarded:
            return
        self._secrets_guarded = True
        hide([model.api_key_env for model in self.settings.models if model.api_key_env])
        if self.sandbox_tier == "none":
            self.undumpable = make_undumpable()

    @property
    def pool_trees(self) -> bool:
        """Whether trees are reused across attempts (reset, not re-checked-out). Only in the
        bubblewrap tier, where no command can write the git metadata a reset trusts, and not when
        worktrees are kept for inspection."""
        return self.sandbox_tier == "bubblewrap" and not self.settings.keep_worktrees

    def sandbox_for(self, worktree: Path, home: Path, git_dir: Path,
                    extra_readonly: list[Path] | None = None, remote: Path | None = None) -> Sandbox:
        """One attempt's sandbox; the limits apply in both tiers, the jail only with bubblewrap.
        Create it right after the worktree: the worktree's growth counts from here. ``remote``:
        a push canary's bare remote, writable (the worktree is then a clone whose own git
        directory the agent writes when it commits)."""
        # The worktree's .git pointer file and the baseline's git dir stay read-only inside.
        pointer = [] if remote is not None else [worktree / ".git"]
        return Sandbox(writable=[worktree, home, *([remote] if remote is not None else [])],
                       readonly=[*pointer, git_dir, *(extra_readonly or [])],
                       limits=self.settings.sandbox_limits, jail=self.sandbox_tier == "bubblewrap",
                       persistent=True)

    def check_paths(self, canary: Canary) -> list[Path]:
        """Absolute paths the canary's checks name, visible read-only in the jail — never one that
        would show a canary directory, the results or the user's home."""
        secrets = [canary.directory.parent, self.settings.data_dir.resolve()]
        return check_paths(canary.verify.run, secrets, home=Path.home())

    def sandbox_banner(self) -> list[str]:
        """Header lines: the tier (the weaker one never silently), the limits, what is unenforced."""
        limits = self.settings.sandbox_limits
        if self.sandbox_tier == "bubblewrap":
            lines = ["agentbench: sandbox: bubblewrap (no network, read-only root, only the worktree writable)"]
        else:
            why = bubblewrap_problem() if self.settings.sandbox == "auto" else "--agentbench-sandbox none"
            lines = [f"agentbench: WARNING: NO OS SANDBOX ({why}): model-written commands run as you, "
                     "confined only by the file tools"]
        lines.append(f"agentbench: limits per command: {limits.describe()}")
        lines.extend(f"agentbench: WARNING: {name} limit not enforced: {why}"
                     for name, why in self._unenforced().items())
        return lines

    def sandbox_environment(self) -> dict[str, Any]:
        """What the JSON report's ``environment`` records about isolation."""
        limits = self.settings.sandbox_limits
        return {"sandbox": self.sandbox_tier, "sandbox_limits": limits.to_json(),
                "sandbox_unenforced": sorted(self._unenforced())}

    def _unenforced(self) -> dict[str, str]:
        jailed = self.sandbox_tier == "bubblewrap"
        return unenforced_limits(self.settings.sandbox_limits, jailed, jailed and bwrap_has_size())

    @property
    def servers(self) -> ServerPool:
        return ServerPool(self.settings.data_dir / "servers", self.run_id)

    def ensure_endpoint(self, model: ModelSpec) -> str:
        """The model's base URL; a managed server is started (or restarted) here on first use.

        Raises :class:`ServerStartError` — also, at once, for every later attempt of a model whose
        server could not be started, so a broken set-up fails fast instead of once per attempt.
        """
        if model.server is None:
            return model.base_url
        if model.name in self._endpoint_failures:
            raise ServerStartError(self._endpoint_failures[model.name])
        spec = model.server
        try:
            port = spec.port or free_port()

            def command() -> list[str]:  # called only when the server has to start
                self.progress.doing(f"starting {model.name}'s server")
                self.notice(f"agentbench: {model.name}: starting its managed server on port {port} …")
                return server_command(spec, port, model.model,
                                      lambda line: self.notice(f"agentbench: {model.name}: {line}"),
                                      slots=spec.slots_for(self.settings.workers),
                                      slot_files=self.slot_files(model))

            state = self.servers.ensure(model.name, command, port, spec.health_path, spec.start_timeout)
        except ServerStartError as exc:
            self._endpoint_failures[model.name] = str(exc)
            raise
        # Recorded here, not written into the ModelSpec: specs are shared (sweep variants are
        # copies of one), and nobody else's object changes behind its back.
        self.endpoints[model.name] = state.base_url
        return state.base_url

    def slot_files(self, model: ModelSpec) -> Path | None:
        """Where a managed llama-server with several slots keeps its saved slots this run (the
        first prompts its workers share), or None."""
        spec = model.server
        if spec is None or spec.command or spec.slots_for(self.settings.workers) < 2:
            return None
        self._slot_dir.mkdir(parents=True, exist_ok=True)
        return self._slot_dir

    @property
    def _slot_dir(self) -> Path:
        return self.settings.data_dir / "servers" / f"slots-{self.run_id}"

    def _shared_slot(self, model: ModelSpec, info: ServerInfo | None, url: str) -> tuple[int, Path] | None:
        """This worker's slot of a managed llama-server with several slots, and the directory of
        its saved slots (servers/shared_prefix.py); None for any other server."""
        spec = model.server
        if spec is None or info is None or info.kind != "llama.cpp" or url != self.endpoints.get(model.name):
            return None
        slot_files = self.slot_files(model)
        # The slots the server says it runs (its own arguments may change --parallel): a slot id
        # past them would fail every request.
        served = info.slots or spec.slots_for(self.settings.workers)
        if slot_files is None or served < 2:
            return None
        return worker_slot(self.worker_id, served), slot_files

    def endpoint_of(self, model: ModelSpec) -> str:
        """Where ``model`` is served: the pool endpoint this process holds a slot of, its managed
        server's URL once started, else its base_url (a pool's first endpoint)."""
        leased = self._leased(model)
        if leased is not None:
            return leased.url
        return self.endpoints.get(model.name, model.base_url)

    # -- endpoint pools (servers/endpoint_pool.py) ----------------------------------------------------------

    def _leased(self, model: ModelSpec) -> Lease | None:
        return self._lease[1] if self._lease is not None and self._lease[0] == model.name else None

    def pool_of(self, model: ModelSpec) -> EndpointPool:
        if model.name not in self._pools:
            # Under the run directory: shared by the run's xdist workers, private to the run.
            self._pools[model.name] = EndpointPool(
                self.run_dir / "endpoints", [Endpoint(e.url, e.slots) for e in model.endpoints])
        return self._pools[model.name]

    def lease_endpoint(self, model: ModelSpec) -> str | None:
        """For a model served by a pool: hold a free slot of its least-loaded live endpoint
        (waiting while every slot is held) until :meth:`release_endpoint`, and return its URL;
        None for a model served at one URL. An endpoint that fails its preflight or no longer
        accepts connections is taken out of the pool on the way. Raises :class:`PoolExhausted`
        when no endpoint is left."""
        self.release_endpoint()  # one an interrupted attempt left behind
        if not model.endpoints:
            return None
        pool = self.pool_of(model)
        try:
            lease = pool.acquire(check=lambda url: self._endpoint_problem(model, url))
        except PoolExhausted as exc:
            raise PoolExhausted(f"model {model.name!r}: {exc}") from None
        self._lease = (model.name, lease)
        return lease.url

    def lease_wait(self) -> float:
        """Seconds the held slot was waited for (0 without one): queueing, not the attempt's time."""
        return self._lease[1].waited if self._lease is not None else 0.0

    def release_endpoint(self) -> None:
        """Give back the slot this process holds, if any (never raises: it runs in cleanups)."""
        if self._lease is not None:
            _, lease = self._lease
            self._lease = None
            try:
                lease.release()
            except OSError:
                pass  # closing a descriptor cannot fail in a way that leaves the lock held

    def _endpoint_problem(self, model: ModelSpec, url: str) -> str | None:
        """Why a pool endpoint cannot take an attempt (None: it can). Its first time in this
        process, the preflight; after that a TCP connect, so an endpoint that died while no
        attempt ran on it costs no attempt."""
        if (model.name, url) not in self._preflights:
            info = self._preflight_url(model, url)
            return f"failed preflight: {'; '.join(info.problems)}" if info.problems else None
        return connect_problem(url)

    def _preflight_pool(self, model: ModelSpec) -> ServerInfo:
        """Every endpoint of a pool preflighted (the session's header does this at start); those
        that fail are taken out of the pool, loudly. The summary is the first live endpoint's
        preflight, with a warning per endpoint left out; a problem only when none is left."""
        pool = self.pool_of(model)
        for endpoint in model.endpoints:
            info = self._preflight_url(model, endpoint.url)
            if info.problems:
                pool.mark_dead(endpoint.url, f"failed preflight: {'; '.join(info.problems)}")
        dead = pool.dead()
        live = [self._preflights[(model.name, e.url)] for e in model.endpoints if e.url not in dead]
        gone = [f"endpoint {url} is left out of the pool: {why}" for url, why in dead.items()]
        if not live:
            summary = ServerInfo("unreachable", problems=[f"no endpoint of the pool is left: {'; '.join(gone)}"])
        else:
            summary = dataclasses.replace(live[0], warnings=[*live[0].warnings, *gone])
        self.server_info[model.name] = {**summary.to_json(),
                                        "pool": [self._pool_entry(model, e.url, e.slots, dead)
                                                 for e in model.endpoints]}
        return summary

    def _pool_entry(self, model: ModelSpec, url: str, slots: int, dead: dict[str, str]) -> dict[str, Any]:
        """One endpoint of a pool as the JSON report's ``models.NAME.server.pool`` lists it."""
        info = self._preflights[(model.name, url)]
        return {"url": url, "slots": slots, "left_out": dead.get(url), "kind": info.kind,
                "version": info.version, "context_window": info.context_window,
                "server_slots": info.slots}

    # -- preflight ----------------------------------------------------------------------------------

    def preflight(self, model: ModelSpec) -> ServerInfo:
        """What serves ``model`` and whether it can run an agent loop honestly; once per endpoint
        per process. Problems (no tool parser, too small a context) come with their fix. For a
        pool: the endpoint this process holds a slot of, or (no slot held) the whole pool."""
        if model.endpoints and self._leased(model) is None:
            return with_model_problems(self._preflight_pool(model), model)
        return with_model_problems(self._preflight_url(model, self.endpoint_of(model)), model)

    def _preflight_url(self, model: ModelSpec, url: str) -> ServerInfo:
        key = (model.name, url)
        if key not in self._preflights:
            with http_client(headers=_auth(model)) as http:
                info = preflight(url, model.model, http)
            hint = model.name_hint()
            if info.kind == "unreachable" and hint:
                info.problems.insert(0, hint)
            expected = model.context_window or (model.server.context_window if model.server else None)
            if expected and info.context_window and info.context_window < expected:
                info.problem(
                    f"the server gives {model.name!r} a {info.context_window}-token context, less than "
                    f"the {expected} it is configured to expect: long attempts would be truncated"
                )
            slots = next((e.slots for e in model.endpoints if e.url == url), None)
            if slots and info.slots and slots > info.slots:
                info.warn(f"the pool gives {url} {slots} slots, the server runs {info.slots} requests "
                          "at once: the others queue there while their time budget runs")
            self._preflights[key] = info
            if model.endpoints:  # a pool's summary is _preflight_pool's
                self.server_info.setdefault(model.name, info.to_json())
            else:
                self.server_info[model.name] = info.to_json()
        return self._preflights[key]

    def explain_fault(self, model: ModelSpec, detail: str) -> str:
        """Add what is known about the server to a server-fault detail: a managed server's exit
        and log, or that a pool endpoint is gone (and out of the pool from now on)."""
        leased = self._leased(model)
        if leased is not None:
            gone = connect_problem(leased.url)
            if gone is None:
                return detail  # alive: a fault of this attempt, not of the endpoint
            self.pool_of(model).mark_dead(leased.url, f"died during an attempt: {gone}")
            return (f"{detail}; endpoint {leased.url} is gone ({gone}) and taken out of the pool: "
                    "the other attempts run on the endpoints left")
        state = self.servers.current(model.name) if model.server is not None else None
        if state is None or pid_alive(state.pid):
            return detail
        return (f"{detail}; the managed server for {model.name!r} (pid {state.pid}) has exited - "
                f"log {state.log}:\n{log_tail(Path(state.log), 8)}")

    def client_for(self, model: ModelSpec) -> ChatClient:
        # One kept-alive client per model and endpoint per process: a new client costs ~20 ms.
        url = self.endpoint_of(model)
        key = (model.name, model.variant, url)
        if key not in self._clients:
            endpoint = (model.name, url)
            info = self._preflights.get(endpoint)
            settings = client_settings(model, self.settings, info.kind if info else None, url)
            shared = self._shared_slot(model, info, url)
            if shared is not None:
                # Every request of this worker to its own slot, where its restored prompt is.
                settings.extra_body = {**settings.extra_body, "id_slot": shared[0]}
            client = ChatClient(settings)
            if shared is not None:
                client.prefix = SharedPrefix(url.removesuffix("/v1"), *shared, client._http)
            client.speed = meter = self._speed_meters.setdefault(endpoint, client.speed)
            if client.settings.knobs.time_budget == "scaled" and not meter.probed:
                meter.probed = True
                probe_speed(model, meter, _auth(model), self.settings.request_timeout,
                            self.server_info.get(model.name), url)
            self._clients[key] = client
        return self._clients[key]

    @property
    def trees(self) -> TreeManager:
        if self._trees is None:
            parent = self.settings.work_dir or Path(tempfile.gettempdir())
            self._work_root = parent / f"agentbench-{self.run_id}" / self.worker_id
            self._work_root.mkdir(parents=True, exist_ok=True)
            self._trees = TreeManager(self._work_root)
        return self._trees

    def close(self) -> None:
        self.release_endpoint()
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        if self.is_controller:
            self.servers.stop_all()  # every worker's servers too: they share the state dir
            shutil.rmtree(self._slot_dir, ignore_errors=True)
        if self._trees is not None and not self.settings.keep_worktrees:
            self._trees.close()
        if self._work_root is not None and not self.settings.keep_worktrees:
            safe_fs.remove_tree(self._work_root)
            try:
                os.rmdir(self._work_root.parent)  # only succeeds once every worker is done
            except OSError:
                pass
