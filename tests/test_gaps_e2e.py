"""Nothing lost, nothing blamed on the wrong party — end to end through pytester:
gates that see infra errors and missing attempts, canary input checked at collection, and a
resume that continues exactly the run it names."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3

import pytest

from pytest_agentbench.testing import ScriptedServer, call, http_error, say, varied
from tests.conftest import HELLO_SOURCE, agent_requests

WRITE = call("write_file", path="hello.py", content=HELLO_SOURCE)
GOOD = [WRITE, say("Done.")]


def routed(state: dict | None = None):
    """A server script: canaries whose prompt says DOWN get HTTP 503 (while state["down"]),
    PHANTOM ones claim success without a change, every other one writes hello.py."""
    state = {"down": True} if state is None else state

    def reply(body: dict) -> dict:
        prompt = " ".join(str(m.get("content") or "") for m in body["messages"] if m["role"] == "user")
        if "DOWN" in prompt and state["down"]:
            return http_error(503, "model crashed")
        turn = sum(m["role"] == "assistant" for m in body["messages"])
        if "PHANTOM" in prompt:
            return say("All done.")
        return GOOD[turn] if turn < len(GOOD) else say("Done.")

    return reply


def db_runs(bench) -> list[tuple]:
    db = sqlite3.connect(bench.pytester.path / ".agentbench" / "results.sqlite")
    found = db.execute("SELECT r.run_id, r.interrupted, COUNT(a.run_id) FROM runs r LEFT JOIN attempts a "
                       "ON a.run_id = r.run_id GROUP BY r.run_id ORDER BY r.rowid").fetchall()
    db.close()
    return found


# -- gates see gaps -------------------------------------------------------------------------------

def four_down_one_up(bench) -> None:
    bench.canary("up")
    for name in ("down1", "down2", "down3", "down4"):
        bench.canary(name, prompt="Create hello.py with hello() returning 'hi'. DOWN")


def test_infra_errors_no_longer_clear_a_gate(bench):
    four_down_one_up(bench)
    with ScriptedServer(routed()) as server:
        result = bench.run(server, "--agentbench-fail-under", "0.8", "--agentbench-retries", "0")
    assert result.ret == 1  # before: 1/1 passed, the gate cleared
    result.stdout.fnmatch_lines([
        "*agentbench gates*",
        ("FAILED pass rate >= 0.8: pass rate 1.000 (1/1); 4 of 5 attempts in scope are infra_error/missing "
        "(0.80 > max 0.00): the gate cannot vouch for what it never saw"),
    ])
    gate, = bench.report()["gates"]
    assert (gate["ok"], gate["total"], gate["infra_errors"], gate["missing"], gate["max_infra_rate"]) == (
        False, 5, 4, 0, 0.0)
    assert bench.report()["incomplete"] is False  # infra errors are results, not gaps


@pytest.mark.parametrize(("rate", "status"), [("0.8", 0), ("0.79", 1)])
def test_max_infra_rate_sets_the_tolerance(bench, rate, status):
    four_down_one_up(bench)
    with ScriptedServer(routed()) as server:
        result = bench.run(server, "--agentbench-fail-under", "0.8", "--agentbench-retries", "0",
                           "--agentbench-max-infra-rate", rate)
    assert result.ret == status
    verdict = "passed" if status == 0 else "FAILED"
    result.stdout.fnmatch_lines([f"{verdict} pass rate >= 0.8: pass rate 1.000 (1/1)*"])


def test_the_ini_twin_sets_the_tolerance(bench):
    four_down_one_up(bench)
    bench.pytester.makeini("[pytest]\nagentbench_max_infra_rate = 0.8\n")
    with ScriptedServer(routed()) as server:
        result = bench.run(server, "--agentbench-fail-under", "0.8", "--agentbench-retries", "0")
    assert result.ret == 0


@pytest.mark.parametrize("value", ["lots", "1.5", "-0.1", "nan", "inf"])
def test_a_bad_max_infra_rate_is_a_usage_error(bench, value):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        result = bench.run(server, "--agentbench-max-infra-rate", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--agentbench-max-infra-rate: '{value}': expected a fraction between 0 and 1*"])


def test_a_bad_ini_max_infra_rate_is_a_usage_error(bench):
    bench.canary()
    bench.pytester.makeini("[pytest]\nagentbench_max_infra_rate = 2\n")
    with ScriptedServer(GOOD) as server:
        result = bench.run(server)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--agentbench-max-infra-rate: '2'*"])


def test_model_and_tier_gate_scope(bench):
    bench.canary("small", tier="lite")
    bench.canary("big", tier="heavy", prompt="Create hello.py. PHANTOM")
    model = "qwen2.5:14b"
    with ScriptedServer(routed()) as server:
        result = bench.run(server, "--agentbench-fail-under", f"{model}:lite:1",
                           "--agentbench-fail-under", f"{model}:heavy:0.5", models=model)
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        f"passed {model}:lite pass rate >= 1: pass rate 1.000 (1/1)",
        f"FAILED {model}:heavy pass rate >= 0.5: pass rate 0.000 (0/1), short by 0.500",
    ])


# -- attempts without a result --------------------------------------------------------------------

BREAK_R1 = (
    "import os\n"
    "def pytest_runtest_setup(item):\n"
    "    if item.name.endswith('-r1]') and item.name.startswith('beta') and not os.environ.get('HEALED'):\n"
    "        raise RuntimeError('harness fault before the attempt produced a result')\n"
)


def test_an_attempt_without_a_result_fails_every_gate_and_resume_fills_the_gaps(bench, monkeypatch):
    bench.canary("alpha", tier="medium", prompt="Create hello.py with hello() returning 'hi'. DOWN")
    bench.canary("beta")
    bench.pytester.makeconftest(BREAK_R1)
    state = {"down": True}
    missing = "canaries/beta/canary.toml::beta[m-r1]"
    with ScriptedServer(routed(state)) as server:
        first = bench.run(server, "--agentbench-fail-under", "lite:0.5", "--agentbench-fail-under", "medium:0",
                          "--agentbench-max-infra-rate", "1", "--agentbench-retries", "0", repeats=2)
        assert first.ret == 1
        first.stdout.fnmatch_lines([
            "*agentbench: INCOMPLETE run, 1 attempt(s) without a result*",
            f"MISSING {missing}: ended without a result",
            "*agentbench gates*",
            # a missing attempt fails every gate, in scope (lite) or not (medium), whatever the tolerance
            (f"FAILED lite pass rate >= 0.5: pass rate 1.000 (1/1); 1 collected attempt(s) ended without a "
            f"result ({missing}): the run is incomplete"),
            ("FAILED medium pass rate >= 0: no scored attempts in scope - a gate on 0 attempts is an error; "
            f"1 collected attempt(s) ended without a result ({missing}): the run is incomplete"),
        ])
        report = bench.report()
        run_id = report["run_id"]
        assert report["incomplete"] is True and report["missing"] == [missing]
        outcomes = sorted((a["canary"], a["repeat"], a["outcome"]) for a in report["attempts"])
        assert outcomes == [("alpha", 0, "infra_error"), ("alpha", 1, "infra_error"), ("beta", 0, "passed")]

        # Resume: the two infra_error attempts and the missing one run again, nothing else.
        state["down"] = False
        monkeypatch.setenv("HEALED", "1")
        second = bench.run(server, "--agentbench-resume", "last", "--agentbench-fail-under", "0.9", repeats=2)
    assert second.ret == 0
    second.assert_outcomes(passed=3)
    second.stdout.fnmatch_lines(["*1 deselected*"])
    report = bench.report()
    assert report["run_id"] == run_id and report["incomplete"] is False and report["missing"] == []
    assert sorted((a["canary"], a["repeat"], a["outcome"]) for a in report["attempts"]) == [
        ("alpha", 0, "passed"), ("alpha", 1, "passed"), ("beta", 0, "passed"), ("beta", 1, "passed")]
    assert report["gates"][0]["ok"] is True


def test_missing_attempts_are_counted_by_the_infra_rate_in_their_scope(bench):
    bench.canary("beta")
    bench.pytester.makeconftest(BREAK_R1)
    with ScriptedServer(GOOD) as server:
        bench.run(server, "--agentbench-fail-under", "0.5", repeats=2)
    gate, = bench.report()["gates"]
    assert (gate["total"], gate["missing"], gate["n"]) == (2, 1, 1)
    assert "1 of 2 attempts in scope are infra_error/missing (0.50 > max 0.00)" in gate["message"]


def test_a_crashed_xdist_worker_leaves_a_named_gap(bench):
    pytest.importorskip("xdist")
    bench.canary("beta")
    bench.pytester.makeconftest(
        "import os\n"
        "def pytest_runtest_setup(item):\n"
        "    if item.name == 'beta[m-r1]':\n"
        "        os._exit(1)\n"
    )
    missing = "canaries/beta/canary.toml::beta[m-r1]"
    with ScriptedServer(GOOD) as server:
        result = bench.run(server, "-n", "2", "--agentbench-fail-under", "0.5", repeats=3)
    assert result.ret == 1
    report = bench.report()
    assert report["incomplete"] is True and report["missing"] == [missing]
    assert len(report["attempts"]) == 2
    gate, = report["gates"]
    assert not gate["ok"] and f"ended without a result ({missing})" in gate["message"]
    # the tier came from the other attempts' reports; the crashed one is known by its node id
    assert gate["total"] == 3


def test_collect_only_expects_nothing(bench):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        result = bench.run(server, "--collect-only")
    assert result.ret == 0
    assert "INCOMPLETE" not in result.stdout.str()
    assert not (bench.pytester.path / ".agentbench" / "results.sqlite").exists()


# -- canary input checked at collection ------------------------------------------------------------

def test_two_canaries_with_one_id_are_a_collection_error(bench):
    bench.canary("first", extra='id = "same"')
    bench.canary("second", extra='id = "same"')
    with ScriptedServer(GOOD) as server:
        result = bench.run(server)
    assert result.ret == pytest.ExitCode.INTERRUPTED  # collection errors stop the run
    result.stdout.fnmatch_lines([
        "*ERROR collecting canaries/second/canary.toml*",
        "*duplicate canary id 'same': canaries/first/canary.toml and canaries/second/canary.toml*",
    ])


def test_a_missing_repo_is_a_collection_error(bench):
    directory = bench.canary()
    shutil.rmtree(directory / "repo")
    with ScriptedServer(GOOD) as server:
        result = bench.run(server)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*canary.toml: repo/ not found: *hello/repo (*repo/.gitkeep*"])


def test_a_symlink_out_of_repo_is_a_collection_error(bench, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not copy me\n")
    directory = bench.canary()
    (directory / "repo" / "data").mkdir()
    os.symlink(secret, directory / "repo" / "data" / "leak.txt")
    with ScriptedServer(GOOD) as server:
        result = bench.run(server)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([f"*repo/: *hello/repo/data/leak.txt: a symbolic link to {secret}, outside repo/*"])
    assert agent_requests(server) == []  # nothing ran


def test_a_file_name_that_is_not_utf8_is_a_collection_error(bench):
    directory = bench.canary()
    try:
        fd = os.open(os.fsencode(directory / "repo") + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY)
    except OSError:
        pytest.skip("this file system refuses non-UTF-8 names")
    os.close(fd)
    with ScriptedServer(GOOD) as server:
        result = bench.run(server)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*hello/repo/caf\\xe9.txt: the file name is not valid UTF-8 (rename it)*"])


def test_agentbench_validate_reports_a_missing_repo_as_a_problem(bench):
    from pytest_agentbench.library.validate import validate_canary

    directory = bench.canary()
    shutil.rmtree(directory / "repo")
    result = validate_canary(directory / "canary.toml", sandbox="none")
    assert not result.ok and "repo/ not found" in result.problems[0]


# -- resume is exact -------------------------------------------------------------------------------

INTERRUPT_FIRST = (
    "import os\n"
    "def pytest_runtest_setup(item):\n"
    "    if os.environ.get('INTERRUPT_FIRST'):\n"
    "        raise KeyboardInterrupt\n"
)


def test_an_interrupt_before_any_attempt_still_makes_this_run_last(bench, monkeypatch):
    bench.canary()
    bench.pytester.makeconftest(INTERRUPT_FIRST)
    with ScriptedServer(GOOD) as server:
        earlier = bench.run(server, repeats=2, subprocess=True)
        assert earlier.ret == 0
        earlier_id = bench.report()["run_id"]
        monkeypatch.setenv("INTERRUPT_FIRST", "1")
        interrupted = bench.run(server, repeats=2, subprocess=True)
        assert interrupted.ret == pytest.ExitCode.INTERRUPTED
        report = bench.report()
        run_id = report["run_id"]
        assert run_id != earlier_id and report["interrupted"] is True and report["attempts"] == []
        assert report["incomplete"] is True and len(report["missing"]) == 2
        assert db_runs(bench) == [(earlier_id, 0, 2), (run_id, 1, 0)]  # recorded though nothing finished
        monkeypatch.delenv("INTERRUPT_FIRST")
        resumed = bench.run(server, "--agentbench-resume", "last", repeats=2, subprocess=True)
    resumed.assert_outcomes(passed=2)  # all of it: `last` is the interrupted run, not the earlier one
    assert bench.report()["run_id"] == run_id
    assert db_runs(bench) == [(earlier_id, 0, 2), (run_id, 0, 2)]


def test_resume_with_other_models_or_canaries_says_what_differs(bench):
    bench.canary("alpha")
    bench.canary("beta")
    with ScriptedServer(GOOD) as server:
        bench.run(server, models="m1")
        run_id = bench.report()["run_id"]
        result = bench.run(server, "--agentbench-resume", "last", "-k", "alpha", models="m1,m2")
    result.stdout.fnmatch_lines([
        f"agentbench: WARNING: resuming run {run_id} with different models than it had - added: m2",
        f"agentbench: WARNING: resuming run {run_id} with different canaries than it had - missing: beta",
    ])
    result.assert_outcomes(passed=1)  # alpha on m2; alpha on m1 is done, beta deselected by -k
    difference = bench.report()["resume"]
    assert difference == {"run_id": run_id,
                          "models": {"added": ["m2"], "missing": []},
                          "canaries": {"added": [], "missing": ["beta"]}}
    # The run's plan now holds everything any of its sessions set out to run.
    db = sqlite3.connect(bench.pytester.path / ".agentbench" / "results.sqlite")
    (settings,), = db.execute("SELECT settings FROM runs WHERE run_id = ?", (run_id,)).fetchall()
    assert json.loads(settings)["plan"] == {"canaries": ["alpha", "beta"], "models": ["m1", "m2"]}


def test_an_identical_resume_warns_about_nothing(bench):
    bench.canary("alpha")
    with ScriptedServer(GOOD) as server:
        bench.run(server)
        result = bench.run(server, "--agentbench-resume", "last")
    assert "WARNING: resuming" not in result.stdout.str()
    assert bench.report()["resume"]["models"] == {"added": [], "missing": []}


def test_resume_under_xdist_says_what_differs(bench):
    pytest.importorskip("xdist")
    bench.canary("alpha")
    bench.canary("beta")
    bench.canary("gamma")
    with ScriptedServer(GOOD) as server:
        bench.run(server, "-k", "alpha or beta", models="m1,m2")
        run_id = bench.report()["run_id"]
        shutil.rmtree(bench.pytester.path / "canaries" / "beta")  # done: its results stay
        result = bench.run(server, "-n", "2", "--agentbench-resume", "last", models="m1")
    result.stdout.fnmatch_lines([
        f"agentbench: WARNING: resuming run {run_id} with different models than it had - missing: m2",
        f"*agentbench: WARNING: resuming run {run_id} with different canaries than it had - added: gamma",
    ])
    report = bench.report()
    assert report["incomplete"] is False and len(report["attempts"]) == 5  # 4 done + gamma on m1
    assert report["resume"]["canaries"] == {"added": ["gamma"], "missing": []}


def test_python_canaries_with_one_id_are_refused(bench):
    root = bench.pytester.path / "canaries"
    (root / "hello_repo").mkdir(parents=True)
    (root / "hello_repo" / "README.md").write_text("# demo\n")
    (root / "test_twice.py").write_text(
        "import pytest\n"
        "@pytest.mark.canary(tier='lite', repo='hello_repo', id='same')\n"
        "def test_one(agent):\n    pass\n"
        "@pytest.mark.canary(tier='lite', repo='hello_repo', id='same')\n"
        "def test_two(agent):\n    pass\n"
    )
    with ScriptedServer(GOOD) as server:
        result = bench.run(server)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*duplicate canary id 'same': *test_twice.py and *test_twice.py*"])


def test_a_run_without_attempts_is_no_baseline(bench, monkeypatch):
    bench.canary()
    bench.pytester.makeconftest(INTERRUPT_FIRST)
    with ScriptedServer(varied(GOOD)) as good, ScriptedServer(varied([say("All done.")])) as phantom:
        bench.run(good, repeats=3)
        baseline_id = bench.report()["run_id"]
        monkeypatch.setenv("INTERRUPT_FIRST", "1")
        assert bench.run(good, repeats=3, subprocess=True).ret == pytest.ExitCode.INTERRUPTED
        monkeypatch.delenv("INTERRUPT_FIRST")
        worse = bench.run(phantom, "--agentbench-baseline", "last", "--agentbench-fail-on-regression", repeats=3)
    assert worse.ret == 1  # compared with the last run that has attempts, not the empty one
    worse.stdout.fnmatch_lines([f"*agentbench vs baseline {baseline_id}*", "REGRESSION m hello: 3/3 -> 0/3*"])
