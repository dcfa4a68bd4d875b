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
from pytest_agentbench.report.summary import cell_fields, group_by
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
