"""Command-line options and their ini twins (run/settings.py turns their values into ``Settings``).

Every ``--agentbench-*`` option has an ``agentbench_*`` ini twin; the command line wins. Light on
purpose: the entry point imports it in every pytest run (run/state.py says why).
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from pytest_agentbench.sandbox.limits import SandboxLimits

DEFAULT_BASE_URL = "http://127.0.0.1:11434/v1"  # Ollama's OpenAI-compatible endpoint

# option name → (ini name, help, kind) for the --agentbench-* options with an ini twin
_INI_OPTIONS: dict[str, tuple[str, str]] = {
    "base_url": ("string", "default endpoint for unregistered models (env AGENTBENCH_BASE_URL)"),
    "json": ("string", "write the JSON report (schema_version 1) to this path"),
    "html": ("string", "write a self-contained HTML report to this path"),
    "keep_worktrees": ("bool", "keep each attempt's git worktree for inspection"),
    "max_turns": ("string", "override every canary's turn budget"),
    "max_tokens": ("string", "override every canary's token budget (prompt + completion, summed)"),
    "max_seconds": ("string", "override every canary's wall-time budget"),
    "max_output_tokens": ("string", ("per-response output cap sent as max_tokens, for every model "
                                     "(default: the registry's max_tokens, else 2048; the embedded "
                                     "model 512: a 135M model loops rather than finishing, and 512 "
                                     "tokens already take 11-20 s on 2 CPU threads)")),
    "max_malformed": ("string", "malformed tool calls in a row that end an attempt (default 3)"),
    "dir": ("string", "where transcripts go (default .agentbench under the rootdir)"),
    "k": ("string", "k values for pass@k and pass^k, comma list (default: 1 and --repeats)"),
    "gate": ("string", ("what --agentbench-fail-under compares: point (the pass rate, default) or "
                       "lower (the Wilson interval's lower bound)")),
    "max_infra_rate": ("string", ("every gate fails when more than this fraction (0-1, default 0) of the "
                                 "attempts in its scope are infra_error or missing")),
    "group_by_model": ("bool", "with xdist, keep each model's attempts on one worker"),
    "db": ("string", "results database (default .agentbench/results.sqlite under the rootdir)"),
    "resume": ("string", "RUN_ID or 'last': run only the attempts that run is missing, report the union"),
    "baseline": ("string", "RUN_ID, 'last' or a JSON report to compare this run with"),
    "sandbox": ("string", ("where shell and check commands run: auto (bubblewrap when it works, "
                          "default), bubblewrap (required), none (no OS sandbox; alias: process)")),
    "sandbox_limits": ("string", "per-command limits, e.g. memory=4G,processes=512,file_size=256M,"
                                 "tmp_size=1G,growth=2G ('off' lifts one; defaults: " + SandboxLimits().spec() + ")"),
    "fail_on_regression": ("bool", ("exit non-zero when a model x canary regressed against the baseline "
                                   "beyond noise (Newcombe's interval of the difference excludes 0)")),
    "confidence": ("string", "confidence of the Wilson intervals (default 0.95)"),
    "retries_with_feedback": ("string", ("extra tries after failed checks, the failing output fed back "
                                        "(0-3, default 0; a canary's own retries_with_feedback wins)")),
    "workdir": ("string", "where worktrees go (default: the system temp dir)"),
    "request_timeout": ("string", ("seconds one model request may take (default 300); a model "
                                   "slower than that is budget_time, not a server fault")),
    "time_budget": ("string", ("fixed (default): every model gets the canary's seconds; scaled: a "
                              "model slower than the reference speed gets proportionally more "
                              "(a registry entry's time_budget wins)")),
    "retries": ("string", "retries of a failed model request before infra_error (default 3)"),
    "retry_backoff": ("string", "first retry pause in seconds, doubled each retry (default 0.5)"),
    "all_on": ("string", ("RUN_ID or 'last': an OFAT run; run per model one variant 'all-on' combining "
                          "that run's per-factor winners, on its models and canaries")),
    "ceilings": ("string", ("RUN_ID or 'last': rerun that run's budget_turns/budget_tokens cells "
                            "with the turn budget raised alone and the token budget raised alone, "
                            "and classify each: turn, token, either, capability or undetermined")),
    "ceiling_factors": ("string", "with --agentbench-ceilings: the multiples each budget is raised "
                                  "by (default 2,4)"),
    "coreside": ("string", ("models that must fit the machine together (comma list): their managed "
                           "servers start before the first attempt and stay up; preflight refuses "
                           "the run when their memory exceeds --agentbench-memory-budget")),
    "memory_budget": ("string", ("memory the --agentbench-coreside models may use together, e.g. 90G "
                                "(default: the machine's RAM minus a tenth, at least 4 GiB)")),
}


_REPEATS = "3"
# pytest --help prints it above the options: `pytest --help | grep agentbench` finds the group.
GROUP_TITLE = ("agentbench: benchmark local LLMs in a coding-agent loop (default model: embedded, "
               "the built-in SmolLM2-135M-Instruct)")


def _ini_defaults() -> dict[str, Any]:
    """Every ini name with the default it is registered with."""
    defaults: dict[str, Any] = {"agentbench_models": "", "agentbench_tier": "",
                                "agentbench_repeats": _REPEATS, "agentbench_fail_under": [],
                                "agentbench_sweep": [], "agentbench_ofat": [],
                                "agentbench_role": [], "agentbench_agent": ""}
    for name, (kind, _) in _INI_OPTIONS.items():
        defaults[f"agentbench_{name}"] = False if kind == "bool" else ""
    return defaults


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agentbench", GROUP_TITLE)
    group.addoption("--models", action="append", default=None, metavar="NAME[@URL]",
                    help="agentbench: models to benchmark (comma list, repeatable; default: "
                         "embedded, SmolLM2-135M-Instruct on a llama-server the plugin starts); "
                         "NAME@URL gives the endpoint, a NAME of the registry its settings")
    group.addoption("--tier", action="append", default=None, metavar="TIER",
                    help="agentbench: run only canaries of these tiers: lite, medium, heavy (comma "
                         "list, repeatable)")
    group.addoption("--repeats", default=None, metavar="N",
                    help="agentbench: attempts per canary and model (default 3); each repeat sends "
                         "its own seed, the model's seed + the repeat")
    parser.addini("agentbench_models", "models to benchmark (comma list)", default="")
    parser.addini("agentbench_tier", "tiers to run (comma list)", default="")
    parser.addini("agentbench_repeats", "attempts per canary and model", default=_REPEATS)
    group.addoption("--agentbench-fail-under", action="append", default=None, metavar="[SCOPE:]RATE",
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
                         "auto_tool_call_on_failure, cache, turns, tokens, "
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
    group.addoption("--agentbench-ofat", action="append", default=None, metavar="KEY=V1,V2",
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
    for name, (kind, help_text) in _INI_OPTIONS.items():
        flag = "--agentbench-" + name.replace("_", "-")
        if kind == "bool":
            group.addoption(flag, action="store_true", default=None, dest=f"agentbench_{name}", help=help_text)
            parser.addini(f"agentbench_{name}", help_text, type="bool", default=False)
        else:
            group.addoption(flag, default=None, dest=f"agentbench_{name}", help=help_text)
            parser.addini(f"agentbench_{name}", help_text, default="")


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
