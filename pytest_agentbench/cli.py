"""The ``agentbench`` command: runs, report, compare (results) and validate, import, mine (canaries).

The results commands read the database (or a JSON report); the canary commands work on files.
None of them needs a model server.
Exit status: 0, 1 when ``compare`` finds a regression, 2 on usage errors (message on stderr).
``agentbench`` alone prints its help (stdout) and exits 0.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Collection, Sequence
from pathlib import Path

from pytest_agentbench import __version__
from pytest_agentbench.features import cli_commands
from pytest_agentbench.records.compare import (
    DB_HELP,
    UsageError,
    compare_rows,
    find_db,
    iteration_compare_rows,
    judge_compare_rows,
    load_results,
    open_store,
    phase_compare_rows,
    stored_run,
)
from pytest_agentbench.records.store import RunRecord, StoreError
from pytest_agentbench.report.html_report import write_html
from pytest_agentbench.report.json_report import NOT_RECORDED, assemble_report, write_report
from pytest_agentbench.report.summary import row_label
from pytest_agentbench.report.terminal import default_ks, summary_lines
from pytest_agentbench.schemas.results import AttemptResult

FLAGS = {"regression": "REGRESSION", "improvement": "improvement", "noise": "~ (within noise)",
         "new": "new", "gone": "gone"}


# -- helpers ---------------------------------------------------------------------------------------

def _table(headers: list[str], rows: list[list[str]], right: Collection[int] = ()) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    def line(cells: list[str]) -> str:
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return [line(headers), line(["-" * w for w in widths])] + [line(row) for row in rows]


def _when(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else ""


def _repeats(record: RunRecord, results: list[AttemptResult]) -> int:
    return int(record.settings.get("repeats") or max((r.repeat for r in results), default=0) + 1)


def build_report_from_store(record: RunRecord, results: list[AttemptResult]) -> dict:
    """A JSON report (the documented contract) from stored data: the run's live report, where the
    database kept what it held beyond the attempts (``record.report``); else what the run's own
    record holds, with ``not_recorded`` saying what is missing."""
    missing = list(record.settings.get("missing") or [])
    parts = record.report
    if parts is None:
        settings = {"ks": default_ks(_repeats(record, results)), **record.settings}
        environment, models = record.environment, record.models
    else:
        settings, environment, models = parts["settings"], parts["environment"], parts["models"]
    report = assemble_report(
        run_id=record.run_id, started=record.started, finished=record.finished,
        interrupted=record.interrupted, environment=environment, settings=settings,
        models=models, results=results, missing=missing,
    )
    if parts is None:
        report["not_recorded"] = list(NOT_RECORDED)
    else:
        report.update(parts.get("sections") or {})
    return report


# -- subcommands -----------------------------------------------------------------------------------

def cmd_runs(args: argparse.Namespace) -> int:
    store = open_store(args.db)
    try:
        records = store.runs()
    finally:
        store.close()
    if not records:
        print(f"no runs in {args.db}")
        return 0
    rows = []
    for r in records:
        status = "interrupted" if r.interrupted else _when(r.finished) if r.finished else "running"
        exit_status = "" if r.exit_status is None else str(r.exit_status)
        rows.append([r.run_id, _when(r.started), status, exit_status, str(r.attempts), str(r.passed),
                     ",".join(r.models)])
    headers = ["run id", "started", "finished", "exit", "attempts", "passed", "models"]
    print("\n".join(_table(headers, rows, right={3, 4, 5})))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    run_id, record, results = stored_run(args.db, args.run)
    status = "interrupted" if record.interrupted else "finished" if record.finished else "running"
    print(f"agentbench: run {run_id} · {status} · {len(results)} attempt(s)")
    confidence = float(record.settings.get("confidence") or 0.95)
    print("\n".join(summary_lines(results, _repeats(record, results),
                                  ks=record.settings.get("ks") or None, confidence=confidence)))
    if args.json or args.html:
        report = build_report_from_store(record, results)
        if args.json:
            write_report(args.json, report)
            print(f"JSON report: {args.json}")
        if args.html:
            write_html(args.html, report)
            print(f"HTML report: {args.html}")
    return 0


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.2f}"


def cmd_compare(args: argparse.Namespace) -> int:
    base_label, base = load_results(args.base, args.db)
    new_label, new = load_results(args.new, args.db)
    rows = compare_rows(base, new, args.confidence, args.method)
    print(f"base: {base_label}\nnew:  {new_label}")
    table = []
    for row in rows:
        model = row_label(row)  # `qwen via mini` for a registry agent's rows
        delta = "-" if row["delta"] is None else f"{row['delta']:+.2f}"
        table.append([model, row["canary"], f"{row['base_c']}/{row['base_n']}", _pct(row["base_rate"]),
                      f"{row['new_c']}/{row['new_n']}", _pct(row["new_rate"]), delta,
                      FLAGS[row["verdict"]] + (" (canary edited)" if row["canary_edited"] else "")])
    headers = ["model", "canary", "base", "rate", "new", "rate", "delta", "verdict"]
    print("\n".join(_table(headers, table, right={2, 3, 4, 5, 6})))
    verdicts = [row["verdict"] for row in rows]
    regressions, improvements = verdicts.count("regression"), verdicts.count("improvement")
    print(f"{regressions} regression(s), {improvements} improvement(s) "
          f"({args.confidence * 100:g}% Wilson intervals, {args.method})")
    edited = sorted({row["canary"] for row in rows if row["canary_edited"]})
    if edited:
        print(f"WARNING: canaries edited between the two runs (different canary.toml, repo/ or "
              f"hidden/): {', '.join(edited)} - their rates measure different tasks")
    regressions += _compare_pipelines(base, new, args)
    return 1 if regressions else 0


def _counts(row: dict) -> list[str]:
    delta = "-" if row["delta"] is None else f"{row['delta']:+.2f}"
    return [f"{row['base_c']}/{row['base_n']}", _pct(row["base_rate"]), f"{row['new_c']}/{row['new_n']}",
            _pct(row["new_rate"]), delta]


def _compare_pipelines(base: list[AttemptResult], new: list[AttemptResult], args: argparse.Namespace) -> int:
    """Pipeline runs: each phase's ok / invalid_output / budget shares, the iteration trend and
    the judges' approval rates, by the pass rates' interval rule. Returns the regressions among
    the phases and iterations (approval has no better direction)."""
    phases = phase_compare_rows(base, new, args.confidence, args.method)
    iterations = iteration_compare_rows(base, new, args.confidence, args.method)
    judges = judge_compare_rows(base, new, args.confidence, args.method)
    found = 0
    if phases:
        print("\npipeline phases (shares of the phases that ran: ok = ended with valid output)")
        table = [[row_label(r), r["canary"], r["phase"], r["measure"], *_counts(r), FLAGS[r["verdict"]]]
                 for r in phases]
        headers = ["model", "canary", "phase", "measure", "base", "rate", "new", "rate", "delta", "verdict"]
        print("\n".join(_table(headers, table, right={4, 5, 6, 7, 8})))
    if iterations:
        print("\niterations (completed: every phase ran; score: mean iteration.score)")
        table = [[row_label(r), r["canary"], str(r["iteration"]), *_counts(r),
                  "-" if r["base_score"] is None else f"{r['base_score']:g}",
                  "-" if r["new_score"] is None else f"{r['new_score']:g}", FLAGS[r["verdict"]]]
                 for r in iterations]
        headers = ["model", "canary", "iteration", "base", "rate", "new", "rate", "delta", "score", "score",
                   "verdict"]
        print("\n".join(_table(headers, table, right={3, 4, 5, 6, 7, 8, 9})))
    if judges:
        print("\njudge approval (pass of pass + fail verdicts)")
        table = [[r["canary"], r["artifact"], r["mode"], r["describer"], r["judge"], *_counts(r),
                  {"higher": "higher", "lower": "lower"}.get(r["verdict"], FLAGS.get(r["verdict"], r["verdict"]))]
                 for r in judges]
        headers = ["canary", "artifact", "mode", "describer", "judge", "base", "rate", "new", "rate", "delta",
                   "verdict"]
        print("\n".join(_table(headers, table, right={5, 6, 7, 8, 9})))
    if phases or iterations:
        verdicts = [r["verdict"] for r in phases + iterations]
        found = verdicts.count("regression")
        print(f"pipelines: {found} regression(s), {verdicts.count('improvement')} improvement(s) "
              "among phases and iterations (the same intervals, on the distinct attempts)")
    return found


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentbench",
        description="pytest-agentbench's results (runs, report, compare) and canaries (validate, "
                    "import, mine). None of these needs a model server.",
        epilog="A benchmark runs under pytest: `pytest canaries/ --tier lite` (the embedded model), "
               "`pytest canaries/ --models NAME[@URL]`; `pytest --help` lists the agentbench options.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    # None: found at run time (find_db), from the directory the command runs in.
    common.add_argument("--db", type=Path, default=None, help=DB_HELP)
    # Not required: a bare `agentbench` is someone asking what it does (main prints the help).
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    runs = sub.add_parser("runs", parents=[common], help="list recorded runs, newest first")
    runs.set_defaults(func=cmd_runs)
    report = sub.add_parser("report", parents=[common], help="re-render a run's summary")
    report.add_argument("run", metavar="RUN_ID", help="a run id, a unique prefix of one, or 'last'")
    report.add_argument("--json", type=Path, metavar="PATH", help="also write the JSON report here")
    report.add_argument("--html", type=Path, metavar="PATH", help="also write the HTML report here")
    report.set_defaults(func=cmd_report)
    compare = sub.add_parser("compare", parents=[common],
                             help="per model × canary deltas (and, for pipeline runs, per phase, "
                                  "iteration and judge); exit 1 on a regression")
    compare.add_argument("base", metavar="BASE", help="run id, 'last', or a JSON report path")
    compare.add_argument("new", metavar="NEW", help="run id, 'last', or a JSON report path")
    compare.add_argument("--confidence", type=float, default=0.95,
                         help="confidence of the Wilson intervals (default 0.95)")
    compare.add_argument("--method", choices=["overlap", "newcombe"], default="newcombe",
                         help="regression test: Newcombe's interval for the difference (default; "
                              "flags 3/3 -> 0/3) or disjoint Wilson intervals (more conservative: "
                              "at n = 3 it cannot flag a single canary)")
    compare.set_defaults(func=cmd_compare)
    _add_library_commands(sub)
    for add_command in cli_commands():  # the features' own: agentbench promote (routing/)
        add_command(sub)
    return parser


def _add_library_commands(sub: argparse._SubParsersAction) -> None:
    # Imported here: the library modules import UsageError from this module.
    import importlib

    from pytest_agentbench.library import COMMAND_MODULES

    for name in COMMAND_MODULES:
        importlib.import_module(f"pytest_agentbench.library.{name}").add_subcommand(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if getattr(args, "confidence", 0.5) <= 0 or getattr(args, "confidence", 0.5) >= 1:
        print("agentbench: error: --confidence must be between 0 and 1", file=sys.stderr)
        return 2
    if "db" in args and args.db is None:
        args.db = find_db()
    try:
        return args.func(args)
    except (UsageError, StoreError) as exc:
        print(f"agentbench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
