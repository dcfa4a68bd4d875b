"""Comparing two sets of results, model × canary: ``agentbench compare`` and the plugin's
``--agentbench-baseline`` both use it."""

from __future__ import annotations

import json
import math
from pathlib import Path

from pydantic import ValidationError

from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.records.stats import wilson_interval
from pytest_agentbench.records.store import ResultStore, RunRecord
from pytest_agentbench.report.summary import cell_fields, group_by, sample_key
from pytest_agentbench.schemas.results import AttemptResult


class UsageError(AgentbenchError):
    """Bad input from the user: reported on stderr with exit status 2, without a traceback."""


def _verdict(base_c: float, base_n: float, new_c: float, new_n: float, confidence: float, method: str) -> str:
    base_low, base_high = wilson_interval(base_c, base_n, confidence)
    new_low, new_high = wilson_interval(new_c, new_n, confidence)
    if method == "overlap":
        # Disjoint intervals: conservative on purpose, a flag should mean a real change.
        if new_high < base_low:
            return "regression"
        return "improvement" if new_low > base_high else "noise"
    if method == "newcombe":
        # Newcombe's hybrid score interval for the difference of two proportions, built from the
        # same Wilson intervals; less conservative than disjointness (3/3 -> 0/3 is flagged).
        if not base_n or not new_n:
            return "noise"
        base_p, new_p = base_c / base_n, new_c / new_n
        delta = new_p - base_p
        upper = delta + math.hypot(new_high - new_p, base_p - base_low)
        lower = delta - math.hypot(new_p - new_low, base_high - base_p)
        if upper < 0:
            return "regression"
        return "improvement" if lower > 0 else "noise"
    raise ValueError(f"unknown comparison method {method!r} (overlap or newcombe)")


def compare_rows(base_results: list[AttemptResult], new_results: list[AttemptResult],
                 confidence: float = 0.95, method: str = "newcombe") -> list[dict]:
    """Per model × variant × canary: counts, pass rates, delta and a verdict.

    infra_error attempts are left out of n (as everywhere). The verdict is ``regression`` or
    ``improvement`` only when the Wilson intervals rule out noise (see ``method``); ``new`` and
    ``gone`` mark canaries present in only one of the two runs. The intervals count distinct
    samples: identical repeats (same conversation and outcome) are one sample, so three
    byte-identical passes against three identical failures are 1/1 vs 0/1 — noise, not a regression.
    """
    # The cell variant: two agents on one model are compared like with like.
    base = group_by(base_results, "model", "cell_variant", "canary")
    new = group_by(new_results, "model", "cell_variant", "canary")
    rows = []
    for key in sorted(set(base) | set(new)):
        model, cell, canary = key
        b, n = base.get(key), new.get(key)
        base_n, base_c = (b.n, b.c) if b else (0, 0)
        new_n, new_c = (n.n, n.c) if n else (0, 0)
        base_distinct, new_distinct = (b.distinct if b else 0), (n.distinct if n else 0)
        base_rate = base_c / base_n if base_n else None
        new_rate = new_c / new_n if new_n else None
        if b is None:
            verdict = "new"
        elif n is None:
            verdict = "gone"
        else:
            # The pass rate keeps every attempt; the sample size is the distinct samples.
            verdict = _verdict(base_c / base_n * base_distinct if base_n else 0, base_distinct,
                               new_c / new_n * new_distinct if new_n else 0, new_distinct,
                               confidence, method)
        # Results recorded before hashes existed have none: they are not called edited.
        hashes = ({r.canary_hash for r in b.results} - {""} if b else set(),
                  {r.canary_hash for r in n.results} - {""} if n else set())
        edited = bool(b and n and all(hashes) and hashes[0] != hashes[1])
        rows.append({
            **cell_fields(model, cell), "canary": canary,
            "base_n": base_n, "base_c": base_c, "new_n": new_n, "new_c": new_c,
            "base_distinct": base_distinct, "new_distinct": new_distinct,
            "base_rate": base_rate, "new_rate": new_rate,
            "delta": None if base_rate is None or new_rate is None else new_rate - base_rate,
            "verdict": verdict, "canary_edited": edited,
        })
    return rows


# -- pipeline runs: phases, iterations, judges ------------------------------------------------------
#
# Counted from each attempt's own records (``attempts[].phases``, ``.iterations``, ``.judges``),
# grouped as the report's ``pipelines`` and ``judges`` sections group them, so a JSON report and
# every stored run (whether or not it kept its sections) are compared alike. Attempts that ended
# in infra_error are left out, as everywhere; a phase the pipeline never reached (``skipped``)
# is not counted. The verdict's sample size is, as for pass rates, the distinct attempts among
# those counted: byte-identical repeats are one sample.

SKIPPED_PHASE = "skipped"
OK_PHASE = "ok"  # a phase that ended with its (valid) output
# Each phase's measures: the share of the phases that ran ending ok, in invalid_output and cut
# by a budget; for the last two a rise is the regression.
PHASE_MEASURES = {"ok": True, "invalid_output": False, "budget": False}
APPROVAL_FLAGS = {"regression": "lower", "improvement": "higher", "noise": "noise"}


class Tally:
    """``c`` of ``n`` records, and the distinct attempts (report/summary.py's sample_key) they
    came from: the sample size of the verdict."""

    def __init__(self) -> None:
        self.c = self.n = 0
        self.samples: set[tuple] = set()

    def add(self, hit: bool, sample: tuple) -> None:
        self.c += bool(hit)
        self.n += 1
        self.samples.add(sample)

    def scaled(self, c: int) -> tuple[float, int]:
        """``c`` of n as a count of the distinct samples (the pass rates' rule)."""
        distinct = min(len(self.samples), self.n)
        return (c / self.n * distinct if self.n else 0.0), distinct


def _rows(base: dict[tuple, Tally], new: dict[tuple, Tally], confidence: float, method: str,
          higher_is_better: bool = True) -> list[dict]:
    """A tally per key on each side: counts, rates, delta and the verdict of compare_rows' rule
    (``new`` / ``gone`` for a key of one side only)."""
    rows = []
    for key in sorted(set(base) | set(new), key=str):
        b, n = base.get(key, Tally()), new.get(key, Tally())
        (base_c, base_n), (new_c, new_n) = (b.c, b.n), (n.c, n.n)
        if key not in base:
            verdict = "new"
        elif key not in new:
            verdict = "gone"
        else:
            # the share of failures when lower is better: its fall is the improvement
            hits = (base_c, new_c) if higher_is_better else (base_n - base_c, new_n - new_c)
            verdict = _verdict(*b.scaled(hits[0]), *n.scaled(hits[1]), confidence, method)
        base_rate = base_c / base_n if base_n else None
        new_rate = new_c / new_n if new_n else None
        rows.append({"key": key, "base_c": base_c, "base_n": base_n, "new_c": new_c, "new_n": new_n,
                     "base_rate": base_rate, "new_rate": new_rate,
                     "delta": None if base_rate is None or new_rate is None else new_rate - base_rate,
                     "verdict": verdict})
    return rows


def _scored(results: list[AttemptResult]) -> list[tuple[AttemptResult, tuple]]:
    """The attempts counted (infra_error left out), each with its sample key."""
    return [(r, sample_key(r, i)) for i, r in enumerate(results) if r.outcome != "infra_error"]


def phase_counts(results: list[AttemptResult]) -> dict[str, dict[tuple[str, str, str, str], Tally]]:
    """Per measure (PHASE_MEASURES), per model × cell variant × canary × phase: of the phases
    that ran, how many ended ok, in invalid_output and cut by a budget (the ``pipelines``
    section's ``ran``, ``invalid_output`` and ``budget``)."""
    counts: dict[str, dict[tuple[str, str, str, str], Tally]] = {measure: {} for measure in PHASE_MEASURES}
    for result, sample in _scored(results):
        for phase in result.phases:
            if phase.outcome == SKIPPED_PHASE:
                continue
            key = (result.model, result.cell_variant, result.canary, phase.name)
            hits = {"ok": phase.outcome == OK_PHASE, "invalid_output": phase.outcome == "invalid_output",
                    "budget": phase.outcome.startswith("budget_")}
            for measure, hit in hits.items():
                counts[measure].setdefault(key, Tally()).add(hit, sample)
    return counts


def phase_compare_rows(base_results: list[AttemptResult], new_results: list[AttemptResult],
                       confidence: float = 0.95, method: str = "newcombe") -> list[dict]:
    """One row per model × variant × canary × phase × measure (PHASE_MEASURES), the rates over the
    phases that ran; empty when neither side ran a pipeline."""
    base, new = phase_counts(base_results), phase_counts(new_results)
    rows = []
    for measure, higher_is_better in PHASE_MEASURES.items():
        for row in _rows(base[measure], new[measure], confidence, method, higher_is_better):
            model, cell, canary, phase = row.pop("key")
            rows.append({**cell_fields(model, cell), "canary": canary, "phase": phase, "measure": measure, **row})
    measures = list(PHASE_MEASURES)
    # A canary's phases in pipeline order, as its attempts recorded them.
    order: dict[tuple[str, str], int] = {}
    for result in base_results + new_results:
        for phase in result.phases:
            order.setdefault((result.canary, phase.name), len(order))
    return sorted(rows, key=lambda r: (r["model"], r["variant"], r.get("agent", ""), r["canary"],
                                       order.get((r["canary"], r["phase"]), 0), measures.index(r["measure"])))


def iteration_compare_rows(base_results: list[AttemptResult], new_results: list[AttemptResult],
                           confidence: float = 0.95, method: str = "newcombe") -> list[dict]:
    """The iteration trend, per model × variant × canary × iteration: how many runs of it
    completed (every phase ran), compared by the pass-rate rule, and the mean score each side
    (``iteration.score``; no interval: a score is no proportion)."""
    def collect(results: list[AttemptResult]) -> tuple[dict, dict]:
        counts: dict[tuple, Tally] = {}
        scores: dict[tuple, list[float]] = {}
        for result, sample in _scored(results):
            for record in result.iterations:
                key = (result.model, result.cell_variant, result.canary, record.iteration)
                counts.setdefault(key, Tally()).add(record.completed, sample)
                if record.score is not None:
                    scores.setdefault(key, []).append(record.score)
        return counts, scores

    (base, base_scores), (new, new_scores) = collect(base_results), collect(new_results)
    rows = []
    for row in _rows(base, new, confidence, method):
        key = row.pop("key")
        model, cell, canary, iteration = key
        mean = {side: round(sum(found) / len(found), 3) if (found := scores.get(key)) else None
                for side, scores in (("base", base_scores), ("new", new_scores))}
        rows.append({**cell_fields(model, cell), "canary": canary, "iteration": iteration, **row,
                     "base_score": mean["base"], "new_score": mean["new"]})
    return sorted(rows, key=lambda r: (r["model"], r["variant"], r.get("agent", ""), r["canary"], r["iteration"]))


def judge_compare_rows(base_results: list[AttemptResult], new_results: list[AttemptResult],
                       confidence: float = 0.95, method: str = "newcombe") -> list[dict]:
    """Per canary × artifact × describer × judge × mode (the ``judges`` section's rows): the
    approval rate, passes over decided verdicts (pass or fail; an artifact not captured, tampered
    with or in error was never decided), compared by the pass-rate rule. Whether approving more
    is better depends on the artifacts, so the verdict is ``higher`` / ``lower`` / ``noise``."""
    def collect(results: list[AttemptResult]) -> dict[tuple, Tally]:
        counts: dict[tuple, Tally] = {}
        for result, sample in _scored(results):
            for record in result.judges:
                if record.verdict not in ("pass", "fail"):
                    continue
                key = (result.canary, record.artifact, record.describer or "-", record.judge, record.mode)
                counts.setdefault(key, Tally()).add(record.verdict == "pass", sample)
        return counts

    rows = []
    for row in _rows(collect(base_results), collect(new_results), confidence, method):
        canary, artifact, describer, judge, mode = row.pop("key")
        row["verdict"] = APPROVAL_FLAGS.get(row["verdict"], row["verdict"])
        rows.append({"canary": canary, "artifact": artifact, "describer": describer, "judge": judge,
                     "mode": mode, **row})
    return rows


DEFAULT_DB = Path(".agentbench") / "results.sqlite"
DB_HELP = (f"results database (default: the nearest {DEFAULT_DB} in this directory or above it, "
           "up to the repository's top)")


def find_db(start: Path | None = None) -> Path:
    """The results database of the project the command runs in: pytest writes it at its rootdir,
    and these commands are often run from a subdirectory (``cd canaries && agentbench runs``).
    The nearest ancestor holding one wins; the search stops at a directory holding ``.git`` (a
    database above a checkout belongs to another project). None found: ``DEFAULT_DB``, relative,
    for the "no results database" error."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / DEFAULT_DB
        if candidate.is_file():
            return candidate if directory != here else DEFAULT_DB
        if (directory / ".git").exists():
            break
    return DEFAULT_DB


def project_dir(start: Path | None = None) -> Path:
    """The directory pytest wrote the nearest results database from (its rootdir, where the
    registry is), or ``.`` when there is none above the working directory."""
    db = find_db(start)
    return db.parent.parent if db.is_absolute() else Path(".")


def open_store(db: Path) -> ResultStore:
    # Reading commands must not leave an empty database behind a mistyped --db.
    if not db.is_file():
        raise UsageError(f"no results database at {db} (run pytest with --models first, or pass --db)")
    return ResultStore(db)


def stored_run(db: Path, ref: str) -> tuple[str, RunRecord, list[AttemptResult]]:
    """A stored run (an id or ``last``): its id, record and attempts (``report``, ``promote``)."""
    store = open_store(db)
    try:
        run_id = store.resolve(ref)
        record = store.run(run_id)
        results = store.attempts(run_id)
    finally:
        store.close()
    assert record is not None  # resolve() only returns stored ids
    return run_id, record, results


def load_results(ref: str, db: Path) -> tuple[str, list[AttemptResult]]:
    """A run id / ``last`` in the database, or a JSON report file: (label, attempts)."""
    path = Path(ref)
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            attempts = [AttemptResult.model_validate(a) for a in data["attempts"]]
        except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
            raise UsageError(f"{path} is not an agentbench JSON report: {exc}") from None
        return f"{path} ({data.get('run_id', '?')})", attempts
    store = open_store(db)
    try:
        run_id = store.resolve(ref)
        return run_id, store.attempts(run_id)
    finally:
        store.close()
