"""The ``agentbench`` command, run as a subprocess against a database filled here."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pytest_agentbench.cli import compare_rows
from pytest_agentbench.records.store import ResultStore
from pytest_agentbench.schemas.results import AttemptResult

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
BASE, NEW = "20240501-120000-aaaaaa", "20240502-120000-bbbbbb"


def attempts(canary: str, model: str, passed: int, n: int, tier: str = "lite") -> list[AttemptResult]:
    return [AttemptResult(canary=canary, tier=tier, model=model, repeat=i,
                          outcome="passed" if i < passed else "failed", turns=3)
            for i in range(n)]


def agentbench(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest_agentbench.cli", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=60, check=False)


def fill(db: Path, run_id: str, started: datetime, results: list[AttemptResult],
         finished: bool = True, interrupted: bool = False) -> None:
    with ResultStore(db) as store:
        store.start_run(run_id, started, {"repeats": 3, "tiers": ["lite"]},
                        {"python": "3.11", "platform": "x", "plugin_version": "0.1.0"},
                        {"qwen": {"base_url": "http://h/v1", "model": "qwen",
                                  "server": {"kind": "ollama", "context_window": 8192}}})
        for result in results:
            store.add_attempt(run_id, result)
        if finished:
            store.finish_run(run_id, started + timedelta(minutes=3), 1 if interrupted else 0, interrupted)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "results.sqlite"
    # base: alpha 3/3, beta 2/3, gamma 0/3 ; new: alpha 0/3, beta 1/3, delta 1/3 (gamma gone)
    fill(path, BASE, T0, attempts("alpha", "qwen", 3, 3) + attempts("beta", "qwen", 2, 3)
         + attempts("gamma", "qwen", 0, 3))
    fill(path, NEW, T0 + timedelta(days=1), attempts("alpha", "qwen", 0, 3)
         + attempts("beta", "qwen", 1, 3) + attempts("delta", "qwen", 1, 3), interrupted=True)
    return path


def test_version() -> None:
    result = agentbench("--version")
    assert result.returncode == 0 and result.stdout.strip() == "agentbench 0.1.0"


def test_runs_table(db: Path) -> None:
    fill(db, "20240503-000000-cccccc", T0 + timedelta(days=2), attempts("alpha", "qwen", 1, 1),
         finished=False)
    result = agentbench("runs", "--db", str(db))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["run", "id", "started", "finished", "exit", "attempts", "passed", "models"]
    assert lines[2].startswith("20240503-000000-cccccc") and "running" in lines[2]
    assert lines[3].split()[:4] == [NEW, "2024-05-02", "12:00:00", "interrupted"]
    assert lines[3].split()[-3:] == ["9", "2", "qwen"]
    assert lines[4].split() == [BASE, "2024-05-01", "12:00:00", "2024-05-01", "12:03:00", "0", "9", "5",
                                "qwen"]


def test_missing_db_is_a_usage_error(tmp_path: Path) -> None:
    result = agentbench("runs", "--db", str(tmp_path / "none.sqlite"))
    assert result.returncode == 2 and "no results database" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "none.sqlite").exists()


def test_default_db_in_current_directory(tmp_path: Path) -> None:
    fill(tmp_path / ".agentbench" / "results.sqlite", BASE, T0, attempts("alpha", "qwen", 1, 1))
    result = agentbench("runs", cwd=tmp_path)
    assert result.returncode == 0 and BASE in result.stdout


def test_report_text_and_json(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "report.json"
    result = agentbench("report", "last", "--db", str(db), "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert f"run {NEW} · interrupted · 9 attempt(s)" in result.stdout
    assert "pass@1" in result.stdout and "pass^3" in result.stdout
    assert "passed=2 failed=7" in result.stdout
    report = json.loads(out.read_text())
    assert {"schema_version", "run_id", "started", "finished", "environment", "models", "attempts",
            "summary"} <= set(report)
    assert report["schema_version"] == 1 and report["run_id"] == NEW
    assert report["models"]["qwen"]["server"]["kind"] == "ollama"
    assert len(report["attempts"]) == 9 and report["attempts"][0]["canary"] == "alpha"
    summary = {row["canary"]: row for row in report["summary"]}
    assert (summary["beta"]["n"], summary["beta"]["c"]) == (3, 1)
    assert {"model", "variant", "pass_at_1", "pass_hat_k", "ci_low", "ci_high"} <= set(summary["beta"])


def test_report_unknown_run(db: Path) -> None:
    result = agentbench("report", "nope", "--db", str(db))
    assert result.returncode == 2
    assert "'nope' is not in" in result.stderr and NEW in result.stderr
    assert "Traceback" not in result.stderr


def test_compare_rows_verdicts() -> None:
    base = attempts("a", "m", 3, 3) + attempts("b", "m", 2, 3) + attempts("c", "m", 4, 4)
    base += attempts("gone", "m", 1, 3)
    new = attempts("a", "m", 0, 3) + attempts("b", "m", 1, 3) + attempts("c", "m", 0, 4)
    new += attempts("fresh", "m", 1, 3)
    rows = {row["canary"]: row for row in compare_rows(base, new, method="overlap")}
    # Disjoint 95% Wilson intervals need n >= 4: at n = 3, [0.44, 1] and [0, 0.56] overlap.
    assert rows["a"]["verdict"] == "noise"
    assert rows["b"]["verdict"] == "noise"
    assert rows["c"]["verdict"] == "regression"
    assert (rows["gone"]["verdict"], rows["fresh"]["verdict"]) == ("gone", "new")
    assert rows["b"] | {"base_rate": 0, "new_rate": 0, "delta": 0} == {
        "model": "m", "variant": "base", "canary": "b", "base_n": 3, "base_c": 2, "new_n": 3,
        "new_c": 1, "base_distinct": 3, "new_distinct": 3, "base_rate": 0, "new_rate": 0, "delta": 0,
        "verdict": "noise", "canary_edited": False}
    assert rows["b"]["delta"] == pytest.approx(-1 / 3)
    assert rows["fresh"]["base_rate"] is None and rows["fresh"]["delta"] is None
    # Symmetric: swapping the runs turns the regression into an improvement.
    assert {r["canary"]: r["verdict"] for r in compare_rows(new, base, method="overlap")}["c"] == "improvement"
    # Newcombe's interval for the difference (the default) flags 3/3 -> 0/3 but not 2/3 -> 1/3.
    newcombe = {row["canary"]: row["verdict"] for row in compare_rows(base, new)}
    assert (newcombe["a"], newcombe["b"], newcombe["c"]) == ("regression", "noise", "regression")


def test_compare_counts_identical_repeats_once() -> None:
    # 3/3 -> 0/3 is a regression for independent repeats; for byte-identical ones (one
    # conversation digest per run) it is 1/1 -> 0/1, which no interval can tell from noise.
    base, new = attempts("a", "m", 3, 3), attempts("a", "m", 0, 3)
    assert compare_rows(base, new)[0]["verdict"] == "regression"
    for result in base:
        result.conversation_digest = "same-pass"
    for result in new:
        result.conversation_digest = "same-fail"
    row = compare_rows(base, new)[0]
    assert (row["base_distinct"], row["new_distinct"], row["verdict"]) == (1, 1, "noise")
    assert row["delta"] == -1.0  # the rates still count every attempt


def test_compare_says_when_a_canary_was_edited_between_runs() -> None:
    base, new = attempts("a", "m", 3, 3) + attempts("b", "m", 3, 3), attempts("a", "m", 3, 3) + attempts("b", "m", 3, 3)
    for result in base + new:
        result.canary_hash = "old"
    for result in new[:3]:
        result.canary_hash = "edited"
    rows = {row["canary"]: row for row in compare_rows(base, new)}
    assert (rows["a"]["canary_edited"], rows["b"]["canary_edited"]) == (True, False)
    legacy = attempts("a", "m", 3, 3)  # recorded before hashes existed: not called edited
    assert compare_rows(legacy, new[:3])[0]["canary_edited"] is False


def test_compare_rows_ignores_infra_errors() -> None:
    base = attempts("a", "m", 4, 4)
    new = attempts("a", "m", 0, 4)
    new += [AttemptResult(canary="a", tier="lite", model="m", repeat=4, outcome="infra_error")]
    row = compare_rows(base, new)[0]
    assert (row["new_n"], row["new_c"], row["verdict"]) == (4, 0, "regression")


def test_compare_cli_regression_exit_1(db: Path, tmp_path: Path) -> None:
    result = agentbench("compare", BASE, "last", "--db", str(db), "--method", "newcombe")
    assert result.returncode == 1, result.stderr
    lines = {line.split()[1]: line for line in result.stdout.splitlines()
             if line.startswith("qwen")}
    assert lines["alpha"].split()[2:7] == ["3/3", "1.00", "0/3", "0.00", "-1.00"]
    assert lines["alpha"].endswith("REGRESSION")
    assert lines["beta"].endswith("~ (within noise)")
    assert lines["gamma"].endswith("gone") and lines["delta"].endswith("new")
    assert "1 regression(s), 0 improvement(s)" in result.stdout
    # With disjoint intervals, 3 repeats cannot show a regression.
    result = agentbench("compare", BASE, NEW, "--db", str(db), "--method", "overlap")
    assert result.returncode == 0 and "0 regression(s)" in result.stdout


def test_compare_json_report_files(db: Path, tmp_path: Path) -> None:
    fill(db, "20240503-000000-cccccc", T0 + timedelta(days=2), attempts("alpha", "qwen", 0, 4))
    fill(db, "20240504-000000-dddddd", T0 + timedelta(days=3), attempts("alpha", "qwen", 4, 4))
    base_json = tmp_path / "base.json"
    assert agentbench("report", "20240504", "--db", str(db), "--json", str(base_json)).returncode == 0
    result = agentbench("compare", str(base_json), "20240503", "--db", str(db))
    assert result.returncode == 1, result.stderr
    assert "4/4" in result.stdout and "REGRESSION" in result.stdout
    result = agentbench("compare", "20240503", str(base_json), "--db", str(db))
    assert result.returncode == 0 and "improvement" in result.stdout


def test_compare_usage_errors(db: Path, tmp_path: Path) -> None:
    result = agentbench("compare", BASE, "nope", "--db", str(db))
    assert result.returncode == 2 and "'nope' is not in" in result.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    result = agentbench("compare", str(bad), BASE, "--db", str(db))
    assert result.returncode == 2 and "not an agentbench JSON report" in result.stderr
    assert "Traceback" not in result.stderr
    result = agentbench("compare", BASE, "--db", str(db))
    assert result.returncode == 2 and "usage:" in result.stderr


def pipeline_attempts(run: str, completed: int, approved: int, n: int = 4) -> list[AttemptResult]:
    """A pipeline canary's attempts: two iterations each, the second completed ``completed``
    times, and a judge approving ``approved`` of them; each its own sample (distinct digests)."""
    from pytest_agentbench.schemas.judge_records import JudgeRecord
    from pytest_agentbench.schemas.pipeline_records import IterationRecord, PhaseRecord

    return [AttemptResult(
        canary="loop", tier="lite", model="qwen", repeat=i, outcome="passed" if i < completed else "failed",
        conversation_digest=f"{run}{i}",
        phases=[PhaseRecord(name="plan", outcome="ok"),
                PhaseRecord(name="build", outcome="ok" if i < completed else "budget_turns")],
        iterations=[IterationRecord(iteration=1, completed=True, score=5.0),
                    IterationRecord(iteration=2, completed=i < completed, score=6.0 + i)],
        judges=[JudgeRecord(artifact="file:out.txt", mode="direct", judge="big",
                            verdict="pass" if i < approved else "fail"),
                JudgeRecord(artifact="file:out.txt", mode="direct", judge="big", verdict="not_captured")])
        for i in range(n)]


def test_compare_of_pipeline_runs_per_phase_iteration_and_judge(tmp_path: Path) -> None:
    db = tmp_path / "results.sqlite"
    fill(db, BASE, T0, pipeline_attempts("a", completed=4, approved=0))
    fill(db, NEW, T0 + timedelta(days=1), pipeline_attempts("b", completed=0, approved=4))
    result = agentbench("compare", BASE, NEW, "--db", str(db))
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    rows = [line.split() for line in out.splitlines()]
    assert ["qwen", "loop", "plan", "ok", "4/4", "1.00", "4/4", "1.00", "+0.00", "~", "(within", "noise)"] in rows
    assert ["qwen", "loop", "build", "ok", "4/4", "1.00", "0/4", "0.00", "-1.00", "REGRESSION"] in rows
    assert ["qwen", "loop", "build", "budget", "0/4", "0.00", "4/4", "1.00", "+1.00", "REGRESSION"] in rows
    # The iteration trend: the first iteration held, the second stopped completing; mean scores.
    assert ["qwen", "loop", "1", "4/4", "1.00", "4/4", "1.00", "+0.00", "5", "5", "~", "(within", "noise)"] in rows
    assert ["qwen", "loop", "2", "4/4", "1.00", "0/4", "0.00", "-1.00", "7.5", "7.5", "REGRESSION"] in rows
    # Approval counts decided verdicts only (not_captured is none); no better direction.
    assert ["loop", "file:out.txt", "direct", "-", "big", "0/4", "0.00", "4/4", "1.00", "+1.00", "higher"] in rows
    assert "pipelines: 3 regression(s), 0 improvement(s)" in out


def test_identical_pipeline_repeats_are_one_sample(tmp_path: Path) -> None:
    db = tmp_path / "results.sqlite"
    same = [a.model_copy(update={"conversation_digest": "same"}) for a in pipeline_attempts("a", 4, 4)]
    gone = [a.model_copy(update={"conversation_digest": "same"}) for a in pipeline_attempts("b", 0, 0)]
    fill(db, BASE, T0, same)
    fill(db, NEW, T0 + timedelta(days=1), gone)
    result = agentbench("compare", BASE, NEW, "--db", str(db))
    # 4/4 -> 0/4 of identical repeats is 1/1 -> 0/1: noise, as for pass rates.
    assert ["qwen", "loop", "build", "ok", "4/4", "1.00", "0/4", "0.00", "-1.00", "~", "(within", "noise)"] in [
        line.split() for line in result.stdout.splitlines()]
    assert result.returncode == 0, result.stdout
