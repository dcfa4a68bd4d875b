"""The terminal summary: one row per model × tier (and an ``all`` row), readable at 100 columns;
and the plugin's end-of-run sections around it (budget ceilings, missing attempts, the baseline
comparison, the gates)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_agentbench.attempt.outcome import Outcome
from pytest_agentbench.attempt.sampling import sampling_lines
from pytest_agentbench.report.failure import cell_label, failure_text, full_detail
from pytest_agentbench.report.fairness import fairness_warnings
from pytest_agentbench.report.header import header_lines, header_shown_key
from pytest_agentbench.report.loop_stats import loop_stats_line
from pytest_agentbench.report.summary import (
    aggregate_rows,
    identical_repeats,
    identical_repeats_line,
    row_label,
)
from pytest_agentbench.run.state import result_of
from pytest_agentbench.schemas.results import AttemptResult

if TYPE_CHECKING:
    from pytest_agentbench.run.gates import MissingAttempt
    from pytest_agentbench.run.session import AgentbenchSession

# Columns in the order the taxonomy lists them: attempt/outcome.py is the one spelling of every name.
OUTCOME_ORDER = [outcome.value for outcome in Outcome]


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return _fmt(None if value is None else 100 * value, 0)


def default_ks(repeats: int) -> list[int]:
    return sorted({1, repeats})


def summary_lines(results: list[AttemptResult], repeats: int, ks: list[int] | None = None,
                  confidence: float = 0.95) -> list[str]:
    ks = ks or default_ks(repeats)
    pct = f"{confidence * 100:g}% CI"
    rows = aggregate_rows(results, ks, confidence)
    # "qwen via builtin-external" must not be cut to look like another row's model.
    width = max([18, *(len(row_label(row)) for row in rows)])
    header = (f"{'model':<{width}} {'tier':<6} {'n':>4} {'pass@1':>6} {pct:>13} "
              + " ".join(f"{'pass@' + str(k):>7} {'pass^' + str(k):>7}" for k in ks if k > 1)
              + f" {'flaky':>5} {'turns✓':>6} {'malf%':>5} {'phan%':>5} {'tamp%':>5}")
    lines = [header]
    multi_tier = len({r.tier for r in results}) > 1
    for row in rows:
        if row["tier"] == "all" and not multi_tier:
            continue  # the single tier's row already says it all
        model = row_label(row)
        interval = f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]" if row["n"] else "-"
        if row["n"] and row["distinct_samples"] < row["n"]:
            interval += "*"  # computed on the distinct samples: identical repeats count once
        malformed = row["malformed_call_rate"]
        cells = [f"{model:<{width}} {row['tier']:<6} {row['n']:>4} {_fmt(row['pass_rate']):>6} {interval:>13}"]
        cells += [f"{_fmt(row['pass_at_k'][str(k)]):>7} {_fmt(row['pass_hat_k'][str(k)]):>7}" for k in ks if k > 1]
        cells.append(f"{row['stability'].get('flaky', 0):>5} {_fmt(row['mean_turns_to_complete'], 1):>6} "
                     f"{_percent(malformed):>5} {_percent(row['phantom_rate']):>5} "
                     f"{_percent(row['tamper_rate']):>5}")
        lines.append(" ".join(cells))
        counts = row["outcomes"]
        outcomes = " ".join(f"{name}={counts[name]}" for name in OUTCOME_ORDER if counts.get(name))
        if row["discriminator"]:
            outcomes += f" · discriminator {row['discriminator']['c']}/{row['discriminator']['n']}"
        if row["pass_rate_by_try"]:
            # pass@1 above is the final outcome; these say what the first try alone achieved.
            by_try = row["pass_rate_by_try"]
            outcomes += f" · first try {by_try[0]:.2f}, final {by_try[-1]:.2f}"
            if len(by_try) > 2:
                outcomes += " (within " + ", ".join(f"{t} tries {rate:.2f}"
                                                    for t, rate in enumerate(by_try[1:-1], start=2)) + ")"
        lines.append(f"{'':<25}{outcomes}")
        if row["n"] and (row["tier"] == "all" or not multi_tier):
            lines.append(f"{'':<25}{loop_stats_line(row)}")
    notes = [warning["message"] for warning in fairness_warnings(results)]
    identical = identical_repeats(results)
    notes += [f"IDENTICAL REPEATS {identical_repeats_line(note)}" for note in identical]
    if identical:
        notes.append("* interval on the distinct samples (repeats with the same replies, tool calls "
                     "and outcome count once): identical repeats are one sample, not several")
    infra = [r for r in results if r.outcome == Outcome.INFRA_ERROR]
    harness = sum(1 for r in infra if r.stop_reason == "harness_error")
    if infra:
        # A harness crash is our fault, not the server's: the two are never one word.
        causes = [f"{len(infra) - harness} model server fault(s)"] * bool(len(infra) - harness)
        causes += [f"{harness} harness error(s): a bug in pytest-agentbench, traceback in the "
                   "transcript"] * bool(harness)
        notes.append(
            f"WARNING: {len(infra)} attempt(s) ended in infra_error ({'; '.join(causes)}); they are "
            "left out of n and every rate"
        )
    if repeats < 3:
        notes.append(f"NOTE: {repeats} repeat(s) per canary: anecdotal, use --repeats 3 or more")
    notes.append("n = scored attempts · pass@1 = passed/n · pass@k, pass^k: means over canaries")
    notes.append("flaky = canaries with mixed results · turns✓ = mean turns of passed attempts · "
                 "malf% = malformed/tool calls")
    notes.append("phan% = phantom (no qualifying change) · tamp% = tampered (touched what decides "
                 "the verdict and did not pass), of n")
    return lines + notes


def write_run_summary(terminalreporter: Any, session: AgentbenchSession,
                      missing: list[MissingAttempt], never_ran: list[str]) -> None:
    """Everything the plugin adds to pytest's terminal summary, in order."""
    config = terminalreporter.config
    _write_budget_ceilings(terminalreporter, full_detail(config))
    _write_incomplete(terminalreporter, missing, set(never_ran))
    if not session.results:
        _write_gates(terminalreporter, session)
        return
    terminalreporter.write_sep("=", f"agentbench summary · run {session.run_id}")
    settings = session.settings
    if not config.stash.get(header_shown_key, False):
        # No header was written (an xdist controller collects nothing, so the embedded default's
        # after-collection header never came): said here, never a silent sandbox downgrade.
        for line in header_lines(session, tiers=sorted({r.tier for r in session.results})):
            terminalreporter.write_line(line, yellow="WARNING" in line)
    else:
        # The temperature-0 warning again, next to the numbers it qualifies.
        for line in sampling_lines(settings.attempt_models(), settings.repeats):
            if "WARNING" in line:
                terminalreporter.write_line(line, yellow=True)
    for line in summary_lines(session.results, settings.repeats, settings.ks, settings.confidence):
        terminalreporter.write_line(line, yellow=line.startswith(("fairness:", "WARNING",
                                                                  "IDENTICAL", "* interval")))
    for name, info in sorted(session.server_info.items()):
        for text in info.get("warnings", []):
            terminalreporter.write_line(f"WARNING {name}: {text}", yellow=True)
    terminalreporter.write_line(f"transcripts: {session.run_dir / 'transcripts'}")
    if settings.json_path:
        terminalreporter.write_line(f"JSON report: {settings.json_path}")
    if settings.html_path:
        terminalreporter.write_line(f"HTML report: {settings.html_path}")
    _write_gates(terminalreporter, session)


def _write_budget_ceilings(terminalreporter: Any, full: bool) -> None:
    """Budget outcomes have their own category, so pytest's FAILURES section skips them: listed
    here, one line per attempt (report/failure.py) — repeats that ended alike share their line —
    or in full with -v."""
    reports = terminalreporter.stats.get("budget", [])
    if not reports:
        return
    terminalreporter.write_sep("=", "BUDGET CEILINGS")
    if full:
        for report in reports:
            terminalreporter.write_sep("_", report.head_line or report.nodeid, yellow=True)
            for line in report.longreprtext.splitlines():
                terminalreporter.write_line(line)
        return
    for text, name in _alike(reports):
        lines = text.splitlines() or [""]
        terminalreporter.write_line(f"{name}: {lines[0]}")
        for line in lines[1:]:
            terminalreporter.write_line(line)


def _alike(reports: list[Any]) -> list[tuple[str, str]]:
    """(text, ``canary model r0,r1``) in order: repeats of one canary and model whose text is
    the same (same outcome, reason and reply) share one line."""
    groups: dict[tuple[str, str], list[str]] = {}  # (cell or node id, text) -> repeats
    for report in reports:
        result = result_of(report)
        if result is None:
            groups.setdefault((report.nodeid, report.longreprtext), [])
            continue
        key = (cell_label(result), failure_text(result, verbose=False))
        groups.setdefault(key, []).append(f"r{result['repeat']}")
    return [(text, f"{name} {','.join(repeats)}".rstrip()) for (name, text), repeats in groups.items()]


def _write_incomplete(terminalreporter: Any, missing: list[MissingAttempt], never: set[str]) -> None:
    if not missing:
        return
    terminalreporter.write_sep("=", f"agentbench: INCOMPLETE run, {len(missing)} attempt(s) without a result")
    for attempt in missing:
        why = "never ran" if attempt.nodeid in never else "ended without a result"
        terminalreporter.write_line(f"MISSING {attempt.nodeid}: {why}", red=True)
    terminalreporter.write_line("--agentbench-resume last runs them (and any infra_error attempts) again")


def _write_gates(terminalreporter: Any, session: AgentbenchSession) -> None:
    settings = session.settings
    if session.baseline_skipped:  # said again here: CI logs are read from the end
        terminalreporter.write_sep("=", "agentbench vs baseline")
        terminalreporter.write_line(f"WARNING: {session.baseline_skipped}", yellow=True)
    if settings.baseline:
        terminalreporter.write_sep("=", f"agentbench vs baseline {settings.baseline}")
        for row in session.regressions:
            terminalreporter.write_line(
                f"REGRESSION {row['model']} {row['canary']}: {row['base_c']}/{row['base_n']} -> "
                f"{row['new_c']}/{row['new_n']} (beyond noise at {settings.confidence:.0%})", red=True)
        if not session.regressions:
            terminalreporter.write_line("no regression beyond noise", green=True)
    if not session.gate_results:
        return
    terminalreporter.write_sep("=", f"agentbench gates ({settings.gate_mode})")
    for result in session.gate_results:
        terminalreporter.write_line(result.message, green=result.ok, red=not result.ok)
