"""A report re-rendered from the database (`agentbench report RUN --json/--html`) is the live one:
the sandbox, limits and settings it showed, the gates, and the sections the features added
(pipelines here), all kept with the run; a run recorded before the database kept them still
renders and says what it lacks."""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from pytest_agentbench.records.store import ResultStore
from pytest_agentbench.testing import ScriptedServer, say
from tests.test_pipeline_e2e import GOOD, by_phase, make_pipeline

# The failing model's phases: the first never writes valid JSON.
BAD = {"EXPLORE": [say("no JSON here"), say("still no JSON")]}


def per_repeat(script):
    """``script`` with a running number added to its prose replies (not to a bare JSON answer):
    repeats differ as independently sampled ones would, and count as distinct samples."""
    replies = itertools.count()

    def reply(body: dict) -> dict:
        found = script(body)
        content = found.get("content") or ""
        if content and not content.lstrip().startswith("{"):
            return {**found, "content": f"{content} (reply {next(replies)})"}
        return found
    return reply


def agentbench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest_agentbench.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120, check=False)


def test_agentbench_report_reproduces_the_live_json_and_html(bench):
    make_pipeline(bench)
    bench.canary("hello")
    with ScriptedServer({"good": by_phase(GOOD), "bad": by_phase(BAD)}) as server:
        bench.run(server, "--agentbench-html", "live.html", "--agentbench-fail-under", "0.1",
                  models="good,bad", repeats=2)
    live = bench.report()
    assert live["pipelines"]["phases"] and live["gates"]  # a feature's section and the gates
    assert live["environment"]["sandbox"] in ("bubblewrap", "none")
    root = bench.pytester.path
    done = agentbench("report", live["run_id"], "--json", "again.json", "--html", "again.html", cwd=root)
    assert done.returncode == 0, done.stderr
    again = json.loads((root / "again.json").read_text())
    # Everything agrees, timestamps included (the run's end is the live report's own).
    assert again == live
    assert "not_recorded" not in again
    # The page too: the same template on the same dict (a live page is written a moment earlier
    # from the same report; only its file differs).
    page = (root / "again.html").read_text()
    assert page == (root / "live.html").read_text()
    assert "Sandbox: not recorded" not in page and "Pipelines (per phase): phases" in page


def test_a_run_recorded_without_its_report_renders_and_says_what_it_lacks(tmp_path):
    db = tmp_path / "results.sqlite"
    with ResultStore(db) as store:
        store.start_run("old", datetime(2024, 5, 1, tzinfo=timezone.utc), {"repeats": 1}, {"python": "3.11"}, {})
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT report FROM runs").fetchone() == (None,)
    conn.close()
    done = agentbench("report", "old", "--db", str(db), "--json", "r.json", "--html", "r.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["not_recorded"] and "sandbox tier" in report["not_recorded"][0]
    page = (tmp_path / "r.html").read_text()
    assert "Not recorded with this run" in page and "Sandbox: not recorded" in page


def test_agentbench_compare_reads_two_pipeline_runs_phase_by_phase(bench):
    make_pipeline(bench)
    root = bench.pytester.path
    runs = []
    for scripts in (GOOD, BAD):  # the same model, its explore phase broken in the second run
        with ScriptedServer(per_repeat(by_phase(scripts))) as server:
            bench.run(server, repeats=3)
        runs.append(bench.report())
    # The counts compared are the pipelines section's own.
    section = {row["phase"]: row for row in runs[1]["pipelines"]["phases"]}
    assert (section["explore"]["ran"], section["explore"]["invalid_output"], section["explore"]["budget"]) == (3, 3, 0)
    done = agentbench("compare", runs[0]["run_id"], runs[1]["run_id"], cwd=root)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    table = lines[lines.index("pipeline phases (shares of the phases that ran: ok = ended with valid output)") + 1:]
    rows = [line.split() for line in table[2:] if line.startswith("m ")]
    assert rows[:3] == [
        ["m", "pipe", "explore", "ok", "3/3", "1.00", "0/3", "0.00", "-1.00", "REGRESSION"],
        ["m", "pipe", "explore", "invalid_output", "0/3", "0.00", "3/3", "1.00", "+1.00", "REGRESSION"],
        ["m", "pipe", "explore", "budget", "0/3", "0.00", "0/3", "0.00", "+0.00", "~", "(within", "noise)"]]
    # The later phases ran in the first run only: never reached in the second, they are gone.
    assert ["m", "pipe", "hypothesize", "ok", "3/3", "1.00", "0/0", "-", "-", "gone"] in rows
    assert "pipelines: 2 regression(s), 0 improvement(s) among phases and iterations" in done.stdout
    # The pass rates come first, as for any run.
    assert lines[4].split()[:2] == ["m", "pipe"]
