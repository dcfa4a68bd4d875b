"""Nothing lost: whatever the agent leaves in its tree, and whatever breaks in the
harness, every attempt ends with a recorded result, no worktree stays on disk, and the gate's
exit status is right."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from pytest_agentbench.sandbox.commands import bubblewrap_problem
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE

TIERS = [pytest.param("bubblewrap", marks=pytest.mark.skipif(
    bool(bubblewrap_problem()), reason=f"no bubblewrap: {bubblewrap_problem()}")), "none"]

DEEP = ("python -c \"import os\n"
        "fd = os.open('.', os.O_RDONLY)\n"
        "for _ in range(3000):\n"
        "    os.mkdir('d' * 40, dir_fd=fd); child = os.open('d' * 40, os.O_RDONLY, dir_fd=fd)\n"
        "    os.close(fd); fd = child\n"
        "os.mkfifo('pipe', dir_fd=fd); os.chmod(fd, 0o500)\"")
WRITE_HELLO = call("write_file", path="hello.py", content=HELLO_SOURCE)


def leftover_worktrees(workdir: Path) -> list[Path]:
    return [p for p in workdir.rglob("*") if p.is_dir() and p.parent.name == "worktrees"]


@pytest.mark.parametrize("tier", TIERS)
def test_a_tree_too_deep_to_verify_is_a_recorded_failure_and_is_removed(bench, tier):
    bench.canary()
    workdir = bench.pytester.path / "work"
    scripts = {"deep": [WRITE_HELLO, call("shell", command=DEEP, timeout=120), say("Done.")],
               "good": [WRITE_HELLO, say("Done.")]}
    with ScriptedServer(scripts) as server:
        result = bench.run(server, "--agentbench-sandbox", tier, "--agentbench-workdir", str(workdir),
                           "--agentbench-fail-under", "0.9", models="deep,good", repeats=2)
    attempts = bench.report()["attempts"]
    assert len(attempts) == 4
    deep = [a for a in attempts if a["model"] == "deep"]
    assert all(a["outcome"] == "failed" for a in deep), [a["detail"] for a in deep]
    assert all("verification error: the tree is deeper than 128 levels" in a["detail"] for a in deep)
    assert all(a["outcome"] == "passed" for a in attempts if a["model"] == "good")
    assert len({a["canary_hash"] for a in attempts}) == 1 and len(attempts[0]["canary_hash"]) == 12
    assert result.ret == 1  # 2 of 4: the 0.9 gate fails, nothing vanished from its denominator
    assert not workdir.exists() or leftover_worktrees(workdir) == []


@pytest.mark.parametrize("tier", TIERS)
def test_many_sparse_files_cannot_stall_the_harness(bench, tier):
    bench.canary()
    make = "for i in $(seq 1 150); do truncate -s 60M big$i.bin; done; ls | wc -l"
    with ScriptedServer([WRITE_HELLO, call("shell", command=make), say("Done.")]) as server:
        bench.run(server, "--agentbench-sandbox", tier, "--agentbench-sandbox-limits", "growth=off")
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "failed"
    assert "verification error: the tree holds more than 512 MiB to read" in attempt["detail"]
    assert attempt["harness_seconds"] < 20  # ~9 GB were never read


def test_a_harness_failure_is_recorded_as_infra_error_and_fails_the_gate(bench, monkeypatch):
    # Through sys.modules: pytester's in-process runs drop modules they imported, and the
    # package attribute may still point at such a dropped copy.
    runner = importlib.import_module("pytest_agentbench.attempt.runner")

    def broken(*args, **kwargs):
        raise KeyError("a bug in the harness")

    monkeypatch.setattr(runner, "run_verification", broken)
    bench.canary()
    with ScriptedServer([WRITE_HELLO, say("Done.")]) as server:
        result = bench.run(server, "--agentbench-fail-under", "0")
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "infra_error" and attempt["stop_reason"] == "harness_error"
    assert "harness error while running the attempt: KeyError: 'a bug in the harness'" in attempt["detail"]
    assert attempt["transcript"]
    assert result.ret == 1  # the one attempt is a gap the gate cannot vouch for
    # Our bug, never called a server fault; the whole traceback is in the transcript.
    result.stdout.fnmatch_lines(["*1 attempt(s) ended in infra_error (1 harness error(s): a bug in "
                                 "pytest-agentbench, traceback in the transcript)*"])
    assert "model server fault" not in result.stdout.str()
    events = [json.loads(line) for line in Path(attempt["transcript"]).read_text().splitlines()]
    [crash] = [e for e in events if e["event"] == "harness_error"]
    assert "Traceback (most recent call last)" in crash["traceback"] and "broken" in crash["traceback"]


@pytest.mark.parametrize("tier", TIERS)
def test_read_only_directories_and_fifos_do_not_block_cleanup(bench, tier):
    bench.canary()
    workdir = bench.pytester.path / "work"
    mess = ("mkdir -p ro/sub && touch ro/sub/f && mkfifo ro/pipe && chmod 500 ro/sub ro; "
            "mkfifo hello_pipe; echo done")
    with ScriptedServer([WRITE_HELLO, call("shell", command=mess), say("Done.")]) as server:
        bench.run(server, "--agentbench-sandbox", tier, "--agentbench-workdir", str(workdir),
                  "--agentbench-keep-worktrees")
    attempt = bench.report()["attempts"][0]
    # The FIFOs are special files: recorded, never copied into the verification tree.
    assert attempt["outcome"] == "passed", attempt["detail"]
    assert set(attempt["protected_changes"]) == {"hello_pipe", "ro/pipe"}
    # Kept on request; a normal run removes it (the deep-tree test covers removal).
    assert Path(attempt["worktree"]).is_dir()


def test_api_keys_leave_the_environment_before_commands_run(bench, monkeypatch):
    secrets = importlib.import_module("pytest_agentbench.sandbox.secrets")

    monkeypatch.setattr(secrets, "_KEYS", {})
    monkeypatch.setattr(secrets, "make_undumpable", lambda: True)  # keep this test process dumpable
    monkeypatch.setenv("AGENTBENCH_TEST_KEY", "sk-very-secret")
    bench.canary()
    probe = "env | grep -c sk-very-secret; python -c \"import os; print(os.environ.get('AGENTBENCH_TEST_KEY'))\""
    with ScriptedServer([WRITE_HELLO, call("shell", command=probe), say("Done.")]) as server:
        bench.pytester.makepyprojecttoml(
            f'[tool.agentbench.models.keyed]\nbase_url = "{server.url}"\napi_key_env = "AGENTBENCH_TEST_KEY"\n')
        bench.run(server, "--agentbench-sandbox", "none", models="keyed")
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "passed", attempt["detail"]
    events = Path(attempt["transcript"]).read_text()
    assert '"result": "[exit code 0]\\n0\\nNone\\n"' in events  # neither in env nor os.environ
    import os

    assert "AGENTBENCH_TEST_KEY" not in os.environ  # taken into memory before the first command
    assert secrets._KEYS["AGENTBENCH_TEST_KEY"] == "sk-very-secret"


def test_make_undumpable_really_closes_the_process():
    import subprocess
    import sys

    code = ("import ctypes; from pytest_agentbench.sandbox.secrets import make_undumpable; "
            "ok = make_undumpable(); libc = ctypes.CDLL(None); print(ok, libc.prctl(3, 0, 0, 0, 0))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "0"]  # PR_GET_DUMPABLE: 0


def test_hooks_and_info_writes_in_the_none_tier_are_tampering(bench):
    bench.canary()
    plant = ("d=$(git rev-parse --git-common-dir); echo '#!/bin/sh' > $d/hooks/post-checkout; "
             "echo '*.py' >> $d/info/exclude; echo rc=$?")
    with ScriptedServer([WRITE_HELLO, call("shell", command=plant), say("Done.")]) as server:
        bench.run(server, "--agentbench-sandbox", "none")
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "tampered"
    assert any(".git/info/ or .git/hooks/" in p for p in attempt["integrity_problems"])
