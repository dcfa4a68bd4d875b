"""``agentbench promote RUN_ID|last``: the promotion policy over a recorded run.

The roles, families and cost tiers come from the registry in ``--registry DIR`` (default: the
current directory; the file ``--write`` updates), a model missing there from the run's record.
Prints each role's decision with every candidate's metrics and reasons, writes the dated
markdown report into ``--out`` (default ``reports/``), ``--json PATH`` the decisions, and with
``--write`` the new incumbents and challengers into the registry (diff printed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pytest_agentbench.records.compare import DB_HELP, UsageError, project_dir, stored_run
from pytest_agentbench.routing.escalation import escalation_summary
from pytest_agentbench.routing.metrics import role_attempts, role_metrics
from pytest_agentbench.routing.policy import Decision, decide, promoted_role
from pytest_agentbench.routing.registry_edit import write_roles
from pytest_agentbench.routing.render import decision_lines, markdown_report
from pytest_agentbench.routing.roles import RoleError, load_roles
from pytest_agentbench.schemas.models import ModelConfigError, load_registry

# The run id in the name: two promotions on one day keep both decisions on disk.
REPORT_NAME = "local-model-benchmark-{date}-{run_id}.md"


def write_report(decisions: list[Decision], run_id: str, date: str, directory: Path) -> Path:
    """The dated markdown report of ``decisions``, in ``directory``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    report = directory / REPORT_NAME.format(date=date, run_id=run_id)
    report.write_text(markdown_report(decisions, run_id, date), encoding="utf-8")
    return report


def cmd_promote(args: argparse.Namespace) -> int:
    run_id, record, results = stored_run(args.db, args.run)
    if args.registry is None:  # run from a subdirectory: the registry is beside the database
        args.registry = project_dir()
    try:
        registry = load_registry(args.registry)
        roles = load_roles(args.registry, registry)
    except (ModelConfigError, RoleError) as exc:
        raise UsageError(str(exc)) from None
    if not roles:
        raise UsageError(f"no roles in {args.registry / 'agentbench.toml'} ([roles.NAME]) or "
                         f"{args.registry / 'pyproject.toml'} ([tool.agentbench.roles.NAME])")
    models: dict[str, dict[str, Any]] = {
        name: {"family": described.get("family"), "cost_tier": described.get("cost_tier")}
        for name, described in record.models.items() if isinstance(described, dict)}
    models.update({name: {"family": s.family, "cost_tier": s.cost_tier} for name, s in registry.items()})
    confidence = float(record.settings.get("confidence") or 0.95)
    print(f"agentbench: promotion over run {run_id} ({len(results)} attempt(s))")
    decisions = []
    for role in roles.values():
        if not role_attempts(role, results):
            # A role the run did not measure has nothing to decide: "0 cases ... keep" would
            # read as a decision.
            print(f"role {role.name}: no attempt of its models on its canaries in this run: left out")
            continue
        decisions.append(decide(role, role_metrics(role, results, models, confidence),
                                escalation_summary(role, results, confidence)))
    for decision in decisions:
        print("\n".join(decision_lines(decision)))
    if not decisions:
        raise UsageError(f"run {run_id} holds no attempt of any role's models on its canaries")
    report = write_report(decisions, run_id, record.started[:10], args.out)
    print(f"report: {report}")
    if args.json:
        args.json.write_text(json.dumps({"promotion": [d.to_json() for d in decisions]}, indent=2) + "\n",
                             encoding="utf-8")
        print(f"JSON: {args.json}")
    if args.write:
        _write(decisions)
    return 0


def _write(decisions: list[Decision]) -> None:
    changes = [(d.role, *promoted_role(d.role, d.promoted)) for d in decisions if d.promoted]
    if not changes:
        print("registry unchanged: no role promotes")
        return
    print(write_roles(changes), end="")


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "promote", help="the promotion policy per role over a run: decisions, dated report")
    parser.add_argument("run", metavar="RUN_ID", help="a run id, a unique prefix of one, or 'last'")
    parser.add_argument("--db", type=Path, default=None, help=DB_HELP)  # None: cli.main finds it
    parser.add_argument("--registry", type=Path, default=None, metavar="DIR",
                        help="where agentbench.toml / pyproject.toml with the roles are (default: "
                             "the directory holding the nearest .agentbench/, else .)")
    parser.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR",
                        help="where the dated markdown report goes (default: reports/)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the decisions as JSON")
    parser.add_argument("--write", action="store_true",
                        help="update the registry's incumbents and challengers in place (comments "
                             "kept) and print the diff")
    parser.set_defaults(func=cmd_promote)
