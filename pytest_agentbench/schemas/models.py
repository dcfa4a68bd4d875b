"""Models under test and how ``--models`` names resolve to endpoints.

Resolution order for a name: the registry (``[tool.agentbench.models.NAME]`` in pyproject.toml,
or ``[models.NAME]`` in agentbench.toml), then the built-in ``embedded`` model, then the default
endpoint. ``NAME@URL`` overrides the endpoint of any of them. A registry entry may name a pool of
endpoints instead of one ``base_url`` (``endpoints``: replicas of the model, each with its slots).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from pytest_agentbench.agent.knobs import AgentKnobs
from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.sandbox.secrets import secret
from pytest_agentbench.schemas.budget import SecondsValue, TokensValue, TurnsValue
from pytest_agentbench.schemas.registry_files import registry_tables
from pytest_agentbench.servers.hub import HubFile
from pytest_agentbench.servers.llama_server import CHATML_TOOLS_TEMPLATE, EMBEDDED_GGUF

OLLAMA_DEFAULT_URL = "http://127.0.0.1:11434/v1"
EMBEDDED = "embedded"
EMBEDDED_MAX_TOKENS = 512  # the embedded model's output cap (2048 for every other model)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+-]*$")


class ModelConfigError(AgentbenchError, ValueError):
    """A ``--models`` value or registry entry that cannot be used."""


def _url_problem(url: str) -> str | None:
    return None if re.match(r"^https?://[^/\s]+", url) else f"{url!r} is not an http(s) URL"


def _check_url(url: str, source: str) -> str:
    problem = _url_problem(url)
    if problem:
        raise ModelConfigError(f"{source}: {problem}")
    return url.rstrip("/")


class EndpointSpec(BaseModel):
    """One replica of a pooled model: where it is served and how many attempts it takes at once."""

    model_config = ConfigDict(extra="forbid")

    url: str
    # Default 1: more attempts than the server has slots would queue there, and their time budget
    # would run while they wait (llama-server's -np, Ollama's OLLAMA_NUM_PARALLEL).
    slots: int = Field(default=1, gt=0)

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        problem = _url_problem(value)
        if problem:
            raise ValueError(problem)
        return value.rstrip("/")


class ServerSpec(BaseModel):
    """A server the plugin starts itself (docs: "Managed servers")."""

    def slots_for(self, workers: int) -> int:
        """How many requests the server decodes at once in a run of ``workers`` processes."""
        return self.slots or max(1, workers)

    model_config = ConfigDict(extra="forbid")

    command: list[str] | None = None  # any OpenAI-compatible server; {port} is substituted
    gguf: str | None = None  # or: a GGUF file served by a managed llama-server
    # ... fetched from the Hugging Face hub when gguf is not given or not there (servers/hub.py):
    # "owner/repo:file.gguf", at hf_revision (a branch, tag or commit; default main).
    hf_model: str | None = None
    hf_revision: str | None = None
    args: list[str] = Field(default_factory=list)  # extra llama-server arguments
    chat_template_file: str | None = None
    context_window: int = Field(default=8192, gt=0)  # per slot
    # Requests a managed llama-server decodes at once (--parallel), each with context_window of
    # context; default: one per process running attempts (xdist workers), which share the server.
    slots: int | None = Field(default=None, gt=0)
    port: int | None = Field(default=None, gt=0, lt=65536)
    health_path: str = "/health"
    start_timeout: float = Field(default=180, gt=0)
    threads: int | None = Field(default=None, gt=0)

    @field_validator("command", mode="before")
    @classmethod
    def _split_command(cls, value: Any) -> Any:
        return value.split() if isinstance(value, str) else value

    @field_validator("hf_model")
    @classmethod
    def _hub_file(cls, value: str | None) -> str | None:
        if value is not None:
            HubFile.parse(value)  # a malformed name fails at load, not minutes into the run
        return value

    @model_validator(mode="after")
    def _hub_file_for_llama_server(self) -> ServerSpec:
        if self.command and self.hf_model:
            raise ValueError("command and hf_model cannot be combined: hf_model is served by the "
                             "managed llama-server, a command runs a server of its own")
        if self.hf_revision and not self.hf_model:
            raise ValueError("hf_revision needs hf_model")
        return self


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""  # what the user calls it; appears in test ids and reports
    base_url: str = ""  # with a pool: its first endpoint (what a single-URL report line shows)
    endpoints: list[EndpointSpec] = Field(default_factory=list)  # a pool of replicas (servers/endpoint_pool.py)
    model: str = ""  # the id sent to the server; defaults to the name
    api_key_env: str | None = None
    temperature: float = 0.0
    top_p: float | None = None
    seed: int | None = None
    # Each repeat sends its own seed, seed (0 when unset) + the repeat index, so repeats at a
    # temperature above 0 are independent samples; false pins the one seed (or none) for all.
    seed_per_repeat: bool = True
    max_tokens: int = Field(default=2048, gt=0)
    extra_body: dict[str, Any] = Field(default_factory=dict)
    context_window: int | None = Field(default=None, gt=0)  # what the user expects the server to have
    tools: list[str] | None = None
    tool_choice: str = "auto"
    max_format_retries: int | None = Field(default=None, gt=0)
    system_prompt: str | None = None
    server: ServerSpec | None = None
    # Agent knobs (docs: "Fair comparisons"); every one is sweepable.
    think: bool | None = None  # reasoning on/off, as the server spells it (servers/thinking.py)
    think_level: Literal["low", "medium", "high"] | None = None  # reasoning effort; implies think
    native_thinking: bool = False  # send the model's reasoning back in its assistant messages
    require_code_change: bool = False  # one counted nudge when it finishes with the tree unchanged
    min_tool_calls: int = Field(default=0, ge=0)  # one counted nudge when it finishes with fewer
    max_batch_tool_calls: int | None = Field(default=None, gt=0)  # calls past N in a reply: refused
    confusion_retries: int = Field(default=0, ge=0)  # re-prompts for a tool call written as text
    time_budget: Literal["fixed", "scaled"] | None = None  # default: --agentbench-time-budget
    auto_tool_call_on_failure: bool = False  # with min_tool_calls: the harness lists the root for it
    cache: bool | None = None  # prompt caching on/off, where the server has a request field for it
    echo: bool = False  # the task restated as a user reminder before each turn after the first
    # The factors (tuning/): budgets as a number or a multiple of the canary's ("x2"), and
    # a prompt directive named in [tool.agentbench.directives], appended to the system prompt.
    turns: TurnsValue = None
    tokens: TokensValue = None
    seconds: SecondsValue = None
    directive: str | None = None
    variant: str = "base"  # set by a sweep (run/variants.py), never by the registry
    # What the variant changed (run/variants.py): an external agent's requests get the sampling ones.
    variant_settings: dict[str, Any] = Field(default_factory=dict, exclude=True)
    agent: str = "builtin"  # set by --agentbench-agent (schemas/agents.py), never by the registry
    # Routing (routing/): the training family, for the promotion policy's diversity
    # guard, and what a call costs (free < paid: a challenger may not raise a role's tier).
    family: str | None = None
    cost_tier: Literal["free", "paid"] = "free"
    # what the model's server holds in memory ("81G"; servers/memory.py), declared so
    # --agentbench-coreside can refuse a set that does not fit before anything starts.
    memory: str | None = None

    @field_validator("memory")
    @classmethod
    def _memory_is_a_size(cls, value: str | None) -> str | None:
        if value is not None:
            from pytest_agentbench.servers.memory import parse_size

            parse_size(value)
        return value

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, value: list[str] | None) -> list[str] | None:
        # Checked at load (an unknown name would fail every attempt); aliases become the tools
        # they stand for.
        from pytest_agentbench.agent.tools import tool_list

        return tool_list(value)

    @field_validator("endpoints", mode="before")
    @classmethod
    def _url_shorthand(cls, value: Any) -> Any:
        # endpoints = ["http://a/v1", {url = "http://b/v1", slots = 2}]: a bare URL has one slot.
        if isinstance(value, list):
            return [{"url": entry} if isinstance(entry, str) else entry for entry in value]
        return value

    # A name that is neither a registry model nor the built-in one goes to the default endpoint;
    # when that endpoint cannot be reached, a typo ("embeded") is the likelier cause than a
    # stopped server, so the error leads with the close name (set by resolve_models).
    _close_name: str | None = PrivateAttr(default=None)

    def name_hint(self) -> str | None:
        """The "did you mean" sentence for a name that may be a typo, or None."""
        if self._close_name is None:
            return None
        return (f"--models {self.name!r}: did you mean {self._close_name!r}? ({self.name!r} is neither "
                f"a model of the registry nor the built-in {EMBEDDED!r}, so it was sent to the "
                f"default endpoint {self.base_url})")

    @model_validator(mode="after")
    def _think_level_needs_thinking(self) -> ModelSpec:
        if self.think is False and self.think_level is not None:
            raise ValueError("think_level needs thinking on: drop think = false or think_level")
        return self

    @model_validator(mode="after")
    def _one_pool(self) -> ModelSpec:
        urls = [endpoint.url for endpoint in self.endpoints]
        if self.endpoints and self.server is not None:
            raise ValueError("endpoints and server cannot be combined: a managed server is one endpoint")
        if len(set(urls)) != len(urls):
            raise ValueError(f"endpoints: {next(u for u in urls if urls.count(u) > 1)!r} is listed twice")
        if self.endpoints and not self.base_url:
            self.base_url = urls[0]
        return self

    def knobs(self, default_time_budget: str = "fixed") -> AgentKnobs:
        return AgentKnobs(native_thinking=self.native_thinking,
                          require_code_change=self.require_code_change,
                          min_tool_calls=self.min_tool_calls,
                          max_batch_tool_calls=self.max_batch_tool_calls,
                          confusion_retries=self.confusion_retries,
                          time_budget=self.time_budget or default_time_budget,
                          auto_tool_call_on_failure=self.auto_tool_call_on_failure,
                          cache=self.cache,
                          echo=self.echo)

    def agent_settings(self, default_time_budget: str = "fixed") -> dict[str, Any]:
        """What the JSON report's settings record about how this model was run in the loop."""
        return {"think": self.think, "think_level": self.think_level,
                "max_format_retries": self.max_format_retries,
                **self.knobs(default_time_budget).to_json()}

    @property
    def api_key(self) -> str | None:
        return secret(self.api_key_env) if self.api_key_env else None

    @property
    def id_fragment(self) -> str:
        """The model's part of a test id: ``add-function[qwen2.5:14b-r0]``, with the variant
        when a sweep runs: ``add-function[qwen2.5:14b-temperature=0.7-r0]``."""
        fragment = self.name if self.variant == "base" else f"{self.name}-{self.variant}"
        if self.agent != "builtin":  # add-function[qwen2.5:14b-agent=mini-r0]
            fragment += f"-agent={self.agent}"
        return fragment.replace("/", "_")

    def sampling_body(self) -> dict[str, Any]:
        """Request-body fields beyond the ones the client always sends."""
        body: dict[str, Any] = {}
        if self.top_p is not None:
            body["top_p"] = self.top_p
        if self.seed is not None:
            body["seed"] = self.seed
        return {**body, **self.extra_body}

    def repeat_seed(self, repeat: int) -> int | None:
        """The seed repeat ``repeat`` sends: ``seed`` (0 when unset) + ``repeat``; with
        ``seed_per_repeat = false`` the registry's ``seed`` for every repeat (None: none sent).
        A ``seed`` in ``extra_body`` is sent as it is (the registry's extra_body has the last word)."""
        if "seed" in self.extra_body:
            return None
        if not self.seed_per_repeat:
            return self.seed
        return (self.seed or 0) + repeat

    def seed_rule(self) -> str:
        """How this model's repeats are seeded, in words (header, summary, JSON report)."""
        if "seed" in self.extra_body:
            return f"seed {self.extra_body['seed']!r} from extra_body, every repeat"
        if not self.seed_per_repeat:
            return (f"seed {self.seed} pinned for every repeat" if self.seed is not None
                    else "no seed sent (the server's own choice)")
        return f"seed = {self.seed or 0} + repeat"

    def describe(self) -> dict[str, Any]:
        pool = {"endpoints": [e.model_dump() for e in self.endpoints]} if self.endpoints else {}
        return {"base_url": self.base_url, **pool, "model": self.model, "temperature": self.temperature,
                "max_tokens": self.max_tokens, **self.sampling_body(),
                "seed_rule": self.seed_rule(), "managed_server": self.server is not None,
                "family": self.family, "cost_tier": self.cost_tier}


def embedded_model() -> ModelSpec:
    """The built-in ``embedded`` model: SmolLM2-135M-Instruct, served by a managed llama-server
    (servers/llama_server.py)."""
    return ModelSpec(
        name=EMBEDDED,
        model="SmolLM2-135M-Instruct",
        # A 135M model rambles into repetition rather than finishing: 512 tokens already take
        # 11-20 s at the 25-45 tokens/s measured on 2 CPU threads (docs: "Set-up").
        max_tokens=EMBEDDED_MAX_TOKENS,
        server=ServerSpec(gguf=EMBEDDED_GGUF, chat_template_file=str(CHATML_TOOLS_TEMPLATE),
                          context_window=8192),
    )


def load_registry(rootdir: Path) -> dict[str, ModelSpec]:
    """Read model entries from ``agentbench.toml`` and ``pyproject.toml`` in ``rootdir``."""
    registry: dict[str, ModelSpec] = {}
    for path, keys, table in registry_tables(rootdir, "models", ModelConfigError, "model registry"):
        prefix = ".".join(keys)
        for name, entry in table.items():
            where = f"{path}: [{prefix}.{name}]"
            if not isinstance(entry, dict):
                raise ModelConfigError(f"{where}: must be a table")
            if "variant" in entry:
                raise ModelConfigError(f"{where}: key 'variant': unknown key (use --agentbench-sweep)")
            if "agent" in entry:
                raise ModelConfigError(f"{where}: key 'agent': unknown key (use --agentbench-agent)")
            if "endpoints" in entry and "base_url" in entry:
                raise ModelConfigError(f"{where}: keys 'base_url' and 'endpoints': give one endpoint "
                                       "or a pool, not both")
            if entry.get("endpoints") == []:
                raise ModelConfigError(f"{where}: key 'endpoints': the pool is empty")
            try:
                spec = ModelSpec.model_validate({**entry, "name": name})
            except ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(p) for p in first["loc"])
                message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
                key = f"key '{field}': " if field else ""  # a rule across keys names them itself
                raise ModelConfigError(f"{where}: {key}{message.removeprefix('Value error, ')}") from None
            if spec.base_url:
                spec.base_url = _check_url(spec.base_url, f"{where}: key 'base_url'")
            registry.setdefault(name, spec)  # agentbench.toml wins over pyproject.toml
    return registry


def split_model_args(values: list[str]) -> list[str]:
    """``--models a,b --models c`` → ``[a, b, c]`` (duplicates dropped, order kept)."""
    names: list[str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part and part not in names:
                names.append(part)
    return names


def resolve_models(
    names: list[str], default_base_url: str, registry: dict[str, ModelSpec] | None = None
) -> list[ModelSpec]:
    default_base_url = _check_url(default_base_url, "--agentbench-base-url")
    registry = registry or {}
    specs: list[ModelSpec] = []
    for entry in names:
        name, _, url = entry.partition("@")
        if not name or not _NAME_RE.match(name):
            raise ModelConfigError(
                f"--models: {entry!r}: a model name must start with a letter or digit and use "
                "only letters, digits and . _ : / + -"
            )
        if any(spec.name == name for spec in specs):
            raise ModelConfigError(f"--models: {name!r} is given twice")
        if name in registry:
            spec = registry[name].model_copy(deep=True)
        elif name == EMBEDDED:
            spec = embedded_model()
        else:
            spec = ModelSpec(name=name)
        spec.name = name
        spec.model = spec.model or name
        if url:
            spec.base_url = _check_url(url, f"--models {entry}")
            spec.server = None  # an explicit endpoint means: the user runs the server
            spec.endpoints = []  # ... and only that one
        elif not spec.base_url and spec.server is None:
            spec.base_url = default_base_url
        if not url and name != EMBEDDED and name not in registry:
            spec._close_name = close_model_name(name, registry)
        specs.append(spec)
    return specs


def close_model_name(name: str, registry: dict[str, ModelSpec]) -> str | None:
    """The registry model (or the built-in one) whose name is closest to ``name``, if any is close."""
    matches = difflib.get_close_matches(name, [EMBEDDED, *registry], n=1)
    return matches[0] if matches else None
