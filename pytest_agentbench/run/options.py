"""Command-line options and their ini twins (run/settings.py turns their values into ``Settings``).

Every ``--agentbench-*`` option has an ``agentbench_*`` ini twin; the command line wins. Light on
purpose: the entry point imports it in every pytest run (run/state.py says why).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_agentbench.sandbox.limits import SandboxLimits

DEFAULT_BASE_URL = "http://127.0.0.1:11434/v1"  # Ollama's OpenAI-compatible endpoint

@dataclass(frozen=True)
class Option:
    """An ``--agentbench-*`` option with an ini twin, declared once with its type: the command
    line, the ini file and the settings all read it through :func:`typed_option`."""

    kind: str  # str, bool, int, float or choice
    help: str
    metavar: str | None = None
    minimum: float | None = None
    choices: tuple[str, ...] = ()
    group: str = "basic"  # the section of ``pytest --help`` it is listed in (GROUPS)

    def parse(self, raw: Any, flag: str) -> Any:
        """The value of ``raw`` (a string from the command line or the ini file); a bad one is a
        usage error naming the option."""
        if self.kind in ("bool", "str"):
            return raw
        if self.kind == "choice":
            if raw not in self.choices:
                shown = [c for c in self.choices if c not in _ALIASES]
                raise pytest.UsageError(f"{flag}: {raw!r}: choose {', '.join(shown[:-1])} or {shown[-1]}")
            return _ALIASES.get(raw, raw)
        try:
            number = int(raw) if self.kind == "int" else float(raw)
        except (TypeError, ValueError):
            raise pytest.UsageError(f"{flag}: {raw!r} is not a number") from None
        if self.minimum is not None and not number >= self.minimum:  # also NaN
            raise pytest.UsageError(f"{flag}: must be at least {self.minimum:g}")
        return number


# Earlier names of a choice, still accepted.
_ALIASES = {"process": "none"}

# option name (``--agentbench-NAME``, ini ``agentbench_NAME``) → its declaration
_INI_OPTIONS: dict[str, Option] = {
    "progress": Option("str", group="basic", metavar="auto|off|SECONDS",
                       help=("while attempts run: auto (default) shows a live status line on a "
                             "terminal and a plain line every 60 s elsewhere; off; or SECONDS "
                             "between plain lines")),
    "base_url": Option("str", group="advanced", metavar="URL",
                   help="default endpoint for unregistered models (env AGENTBENCH_BASE_URL)"),
    "json": Option("str", group="basic", metavar="PATH",
                   help="write the JSON report (schema_version 1) to this path"),
    "html": Option("str", group="basic", metavar="PATH", help="write a self-contained HTML report to this path"),
    "keep_worktrees": Option("bool", group="sandbox", help="keep each attempt's git worktree for inspection"),
    "max_turns": Option("int", group="budgets", metavar="N", minimum=1, help="override every canary's turn budget"),
    "max_tokens": Option("int", group="budgets", metavar="N", minimum=1,
                   help="override every canary's token budget (prompt + completion, summed)"),
    "max_seconds": Option("float", group="budgets", metavar="SECONDS", minimum=0.001,
                   help="override every canary's wall-time budget"),
    "max_output_tokens": Option("int", group="budgets", metavar="N", minimum=1,
                   help=("per-response output cap sent as max_tokens, for every model "
                                     "(default: the registry's max_tokens, else 2048; the embedded "
                                     "model 512: a 135M model loops rather than finishing, and 512 "
                                     "tokens already take 11-20 s on 2 CPU threads)")),
    "max_malformed": Option("int", group="budgets", metavar="N", minimum=1,
                   help="malformed tool calls in a row that end an attempt (default 3)"),
    "dir": Option("str", group="advanced", metavar="DIR",
                   help="where transcripts go (default .agentbench under the rootdir)"),
    "k": Option("str", group="statistics", metavar="K[,K]",
                   help="k values for pass@k and pass^k, comma list (default: 1 and --repeats)"),
    "gate": Option("choice", group="statistics", metavar="point|lower", choices=('point', 'lower'),
                   help=("what --agentbench-fail-under compares: point (the pass rate, default) or "
                       "lower (the Wilson interval's lower bound)")),
    "max_infra_rate": Option("str", group="statistics", metavar="RATE",
                   help=("every gate fails when more than this fraction (0-1, default 0) of the "
                                 "attempts in its scope are infra_error or missing")),
    "max_cheat_rate": Option("str", group="statistics", metavar="RATE",
                   help=("fail the run when a model's cheat rate (the share of its attempts on "
                         "canaries with an [integrity] table that cheated, 0-1) is above RATE; "
                         "with --agentbench-gate lower, the interval's upper bound")),
    "group_by_model": Option("bool", group="advanced", help="with xdist, keep each model's attempts on one worker"),
    "db": Option("str", group="advanced", metavar="PATH",
                   help="results database (default .agentbench/results.sqlite under the rootdir)"),
    "resume": Option("str", group="advanced", metavar="RUN_ID|last",
                   help="RUN_ID or 'last': run only the attempts that run is missing, report the union"),
    "baseline": Option("str", group="statistics", metavar="RUN_ID|last|PATH",
                   help="RUN_ID, 'last' or a JSON report to compare this run with"),
    "sandbox": Option("choice", group="sandbox", metavar="auto|bubblewrap|none", choices=('auto', 'bubblewrap', 'none', 'process'),
                   help=("where shell and check commands run: auto (bubblewrap when it works, "
                          "default), bubblewrap (required), none (no OS sandbox; alias: process)")),
    "sandbox_limits": Option("str", group="sandbox", metavar="KEY=VALUE[,...]",
                   help="per-command limits, e.g. memory=4G,processes=512,file_size=256M,"
                                 "tmp_size=1G,growth=2G ('off' lifts one; defaults: " + SandboxLimits().spec() + ")"),
    "fail_on_regression": Option("bool", group="statistics",
                   help=("exit non-zero when a model x canary regressed against the baseline "
                                   "beyond noise (Newcombe's interval of the difference excludes 0)")),
    "confidence": Option("float", group="statistics", metavar="LEVEL", minimum=0.5,
                   help="confidence of the Wilson intervals (default 0.95)"),
    "retries_with_feedback": Option("int", group="budgets", metavar="N", minimum=0,
                   help=("extra tries after failed checks, the failing output fed back "
                                        "(0-3, default 0; a canary's own retries_with_feedback wins)")),
    "workdir": Option("str", group="sandbox", metavar="DIR",
                   help="where worktrees go (default: the system temp dir)"),
    "request_timeout": Option("float", group="budgets", metavar="SECONDS", minimum=0.001,
                   help=("seconds one model request may take (default 300); a model "
                                   "slower than that is budget_time, not a server fault")),
    "time_budget": Option("choice", group="budgets", metavar="fixed|scaled", choices=('fixed', 'scaled'),
                   help=("fixed (default): every model gets the canary's seconds; scaled: a "
                              "model slower than the reference speed gets proportionally more "
                              "(a registry entry's time_budget wins)")),
    "retries": Option("int", group="budgets", metavar="N", minimum=0,
                   help="retries of a failed model request before infra_error (default 3)"),
    "retry_backoff": Option("float", group="budgets", metavar="SECONDS", minimum=0,
                   help="first retry pause in seconds, doubled each retry (default 0.5)"),
    "all_on": Option("str", group="tuning", metavar="RUN_ID|last",
                   help=("RUN_ID or 'last': an OFAT run; run per model one variant 'all-on' combining "
                          "that run's per-factor winners, on its models and canaries")),
    "ceilings": Option("str", group="tuning", metavar="RUN_ID|last",
                   help=("RUN_ID or 'last': rerun that run's budget_turns/budget_tokens cells "
                            "with the turn budget raised alone and the token budget raised alone, "
                            "and classify each: turn, token, either, capability or undetermined")),
    "ceiling_factors": Option("str", group="tuning", metavar="X[,X]",
                   help="with --agentbench-ceilings: the multiples each budget is raised "
                                  "by (default 2,4)"),
    "coreside": Option("str", group="advanced", metavar="MODEL[,MODEL]",
                   help=("models that must fit the machine together (comma list): their managed "
                           "servers start before the first attempt and stay up; preflight refuses "
                           "the run when their memory exceeds --agentbench-memory-budget")),
    "tier_up": Option("bool", group="tuning",
                   help=("also run the next tier up of each --tier asked for (lite -> medium -> "
                         "heavy) and say per model whether a model at or above the gate on its "
                         "tier held up one tier higher (the gate: --agentbench-fail-under "
                         "covering it, else 1.0)")),
    "memory_budget": Option("str", group="advanced", metavar="SIZE",
                   help=("memory the --agentbench-coreside models may use together, e.g. 90G "
                                "(default: the machine's RAM minus a tenth, at least 4 GiB)")),
}


_REPEATS = "3"
# pytest --help prints each title above its options: `pytest --help | grep agentbench` finds them.
GROUP_TITLE = ("agentbench: benchmark local LLMs in a coding-agent loop (default model: embedded, "
               "the built-in SmolLM2-135M-Instruct)")
GROUPS = {
    "basic": GROUP_TITLE,
    "budgets": "agentbench budgets: what one attempt may spend, and how requests are retried",
    "statistics": "agentbench statistics and gates: intervals, CI gates, comparison with a baseline",
    "sandbox": "agentbench sandbox: where model-written commands and checks run",
    "tuning": "agentbench tuning runs: one factor at a time, and variants built from an earlier run",
    "advanced": "agentbench advanced: endpoints, workers, servers sharing the machine, storage",
}


def _ini_defaults() -> dict[str, Any]:
    """Every ini name with the default it is registered with."""
    defaults: dict[str, Any] = {"agentbench_models": "", "agentbench_tier": "",
                                "agentbench_repeats": _REPEATS, "agentbench_fail_under": [],
                                "agentbench_sweep": [], "agentbench_ofat": [],
                                "agentbench_role": [], "agentbench_agent": ""}
    for name, option in _INI_OPTIONS.items():
        defaults[f"agentbench_{name}"] = False if option.kind == "bool" else ""
    return defaults


def pytest_addoption(parser: pytest.Parser) -> None:
    groups = {name: parser.getgroup(f"agentbench-{name}" if name != "basic" else "agentbench", title)
              for name, title in GROUPS.items()}
    group = groups["basic"]
    group.addoption("--models", action="append", default=None, metavar="NAME[@URL]",
                    help="agentbench: models to benchmark (comma list, repeatable; default: "
                         "embedded, SmolLM2-135M-Instruct on a llama-server the plugin starts); "
                         "NAME@URL gives the endpoint, a NAME of the registry its settings")
    group.addoption("--tier", action="append", default=None, metavar="TIER",
                    help="agentbench: run only canaries of these tiers: lite, medium, heavy, integrity (comma "
                         "list, repeatable)")
    group.addoption("--repeats", default=None, metavar="N",
                    help="agentbench: attempts per canary and model (default 3); each repeat sends "
                         "its own seed, the model's seed + the repeat")
    parser.addini("agentbench_models", "models to benchmark (comma list)", default="")
    parser.addini("agentbench_tier", "tiers to run (comma list)", default="")
    parser.addini("agentbench_repeats", "attempts per canary and model", default=_REPEATS)
    groups["statistics"].addoption("--agentbench-fail-under", action="append", default=None, metavar="[SCOPE:]RATE",
                    dest="agentbench_fail_under",
                    help="exit non-zero unless the pass rate (overall, of a tier, or of a model) "
                         "reaches RATE; repeatable")
    parser.addini("agentbench_fail_under", "gates, e.g. 0.8 heavy:0.6", type="args", default=[])
    group.addoption("--agentbench-sweep", action="append", default=None, metavar="KEY=V1,V2",
                    dest="agentbench_sweep",
                    help="run every model once per value (a variant): temperature, top_p, seed, "
                         "max_tokens, tool_choice, max_format_retries, think, think_level, "
                         "native_thinking, require_code_change, min_tool_calls, "
                         "max_batch_tool_calls, confusion_retries, time_budget, "
                         "auto_tool_call_on_failure, cache, echo, turns, tokens, "
                         "seconds (a number or x2: a multiple of the canary's) or directive (a "
                         "name of [tool.agentbench.directives], or none); repeat for a cartesian "
                         "product")
    parser.addini("agentbench_sweep", "sweeps, e.g. temperature=0,0.7 seed=1,2", type="args", default=[])
    group.addoption("--agentbench-agent", action="append", default=None, metavar="NAME[,NAME]",
                    dest="agentbench_agent",
                    help="agents that drive the attempts (comma list, repeatable; default builtin, "
                         "the plugin's own loop): a NAME of [tool.agentbench.agents] runs that "
                         "program through the recording proxy; each is a dimension like a variant")
    parser.addini("agentbench_agent", "agents to run (comma list; default builtin)", default="")
    groups["tuning"].addoption("--agentbench-ofat", action="append", default=None, metavar="KEY=V1,V2",
                    dest="agentbench_ofat",
                    help="one factor at a time: per model, the baseline (variant base) and one "
                         "variant per value, each differing from it in that factor only (the keys "
                         "of --agentbench-sweep); repeatable. The summary compares each with the "
                         "baseline (Newcombe's interval; better / worse / no evidence)")
    parser.addini("agentbench_ofat", "OFAT factors, e.g. temperature=0 directive=completeness",
                  type="args", default=[])
    group.addoption("--agentbench-role", action="append", default=None, metavar="NAME",
                    dest="agentbench_role",
                    help="run a role of the registry ([tool.agentbench.roles.NAME]): its canaries "
                         "over its incumbent and challengers; repeatable; not with --models")
    parser.addini("agentbench_role", "roles to run, e.g. coder review", type="args", default=[])
    for name, option in _INI_OPTIONS.items():
        flag = option_flag(name)
        group = groups[option.group]
        if option.kind == "bool":
            group.addoption(flag, action="store_true", default=None, dest=f"agentbench_{name}", help=option.help)
            parser.addini(f"agentbench_{name}", option.help, type="bool", default=False)
        else:
            group.addoption(flag, default=None, dest=f"agentbench_{name}", metavar=option.metavar,
                            help=option.help)
            parser.addini(f"agentbench_{name}", option.help, default="")


def option_flag(name: str) -> str:
    return "--agentbench-" + name.replace("_", "-")


def typed_option(config: pytest.Config, name: str, default: Any = None) -> Any:
    """An option's value with its declared type (command line first, then the ini twin), or
    ``default`` when neither sets it; a bad value is a usage error naming the option."""
    raw = option_value(config, name)
    return default if raw is None else _INI_OPTIONS[name].parse(raw, option_flag(name))


def option_value(config: pytest.Config, name: str) -> Any:
    """Command line first, then the ini twin; empty ini values count as unset."""
    value = config.getoption(f"agentbench_{name}")
    if value is None:
        value = config.getini(f"agentbench_{name}")
    return value if value not in ("", None) else None


_REGISTRY_TABLE = re.compile(r"^\s*\[\s*tool\s*\.\s*agentbench\b", re.MULTILINE)


def asks_for_agentbench(config: pytest.Config) -> bool:
    """Whether this run configures agentbench at all: an option, an ini value, a model registry
    or ``AGENTBENCH_BASE_URL``. Then the session starts at configure (bad values are usage errors
    before collection, the header says what will run); else on the first canary collected."""
    options = vars(config.option)
    if any(value is not None for name, value in options.items()
           if name in ("models", "tier", "repeats") or name.startswith("agentbench_")):
        return True
    if any(config.getini(name) != default for name, default in _ini_defaults().items()):
        return True
    root = config.rootpath
    if os.environ.get("AGENTBENCH_BASE_URL") or (root / "agentbench.toml").is_file():
        return True
    try:
        return bool(_REGISTRY_TABLE.search((root / "pyproject.toml").read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        return False
