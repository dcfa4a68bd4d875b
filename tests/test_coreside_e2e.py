"""Models that share a machine: managed servers' memory in the reports, and
--agentbench-coreside refusing at preflight a set whose declared or measured memory exceeds
the budget — with real server processes (a small script serving a ScriptedServer)."""

from __future__ import annotations

import json
import os
import sys

import pytest

from pytest_agentbench.servers.memory import parse_size, read_memory
from tests.test_managed_server import SERVER_SOURCE, running


def managed(bench, names: tuple[str, ...], memory: dict[str, str] | None = None) -> str:
    marker = f"agentbench-coreside-{os.getpid()}-{bench.pytester.path.name}"
    lines = []
    for name in names:
        lines += [f"[models.{name}]", 'model = "scripted"']
        if memory and name in memory:
            lines.append(f'memory = "{memory[name]}"')
        lines += [f"[models.{name}.server]",
                  f"command = {json.dumps([sys.executable, '-c', SERVER_SOURCE, '{port}', marker])}"]
    (bench.pytester.path / "agentbench.toml").write_text("\n".join(lines) + "\n")
    return marker


def run(bench, *args: str):
    return bench.pytester.runpytest("canaries", "--repeats", "1", "--agentbench-json", "report.json",
                                    "-p", "no:cacheprovider", *args)


def test_declared_memory_over_the_budget_is_refused_before_anything_starts(bench):
    bench.canary()
    marker = managed(bench, ("coder", "vision"), memory={"coder": "81G", "vision": "29G"})
    result = run(bench, "--models", "coder", "--agentbench-coreside", "coder,vision",
                 "--agentbench-memory-budget", "90G")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([("*--agentbench-coreside: coder, vision need 110.0 GiB together "
                                  "(declared: coder 81.0 GiB, vision 29.0 GiB), more than the 90.0 GiB "
                                  "budget (--agentbench-memory-budget): running them side by side would swap*")])
    assert not (bench.pytester.path / ".agentbench" / "servers" / "coder.log").exists()
    assert running(marker) == []


def test_measured_memory_over_the_budget_is_refused_and_the_servers_stopped(bench):
    bench.canary()
    marker = managed(bench, ("coder", "vision"))
    result = run(bench, "--models", "coder", "--agentbench-coreside", "coder,vision",
                 "--agentbench-memory-budget", "8M")  # each Python server holds more than 8 MiB
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([("*--agentbench-coreside: coder, vision need * MiB together "
                                  "(measured: coder * MiB, vision * MiB), more than the 8.0 MiB budget*")])
    servers = bench.pytester.path / ".agentbench" / "servers"
    assert (servers / "coder.log").exists() and (servers / "vision.log").exists()  # both started
    assert running(marker) == []  # and stopped: nothing stays loaded after a refusal


def test_a_set_that_fits_starts_together_and_reports_peak_memory(bench):
    bench.canary()
    marker = managed(bench, ("coder", "vision"), memory={"vision": "1M"})
    result = run(bench, "--models", "coder", "--agentbench-coreside", "coder,vision",
                 "--agentbench-memory-budget", "4G")
    result.assert_outcomes(passed=1)
    # The vision server started before the first attempt although no attempt of this run uses it.
    assert (bench.pytester.path / ".agentbench" / "servers" / "vision.log").read_text().count("--- starting") == 1
    report = json.loads((bench.pytester.path / "report.json").read_text())
    memory = report["models"]["coder"]["memory"]
    assert memory["peak_rss_bytes"] >= memory["rss_bytes"] > 1 << 20 and memory["declared"] is None
    assert report["coreside"]["models"] == ["coder", "vision"]
    assert report["coreside"]["budget_bytes"] == 4 << 30
    assert set(report["coreside"]["at_start"]) == {"coder", "vision"}
    result.stdout.fnmatch_lines(["memory: coder: peak resident * MiB (managed server, * process(es))",
                                 "co-resident: coder, vision within a 4.0 GiB budget"])
    assert running(marker) == []


def test_an_unknown_coreside_model_is_a_usage_error(bench):
    bench.canary()
    managed(bench, ("coder",))
    result = run(bench, "--models", "coder", "--agentbench-coreside", "coder,ghost")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--agentbench-coreside: 'ghost': neither a model of this run*"])


@pytest.mark.parametrize("text, size", [("90G", 90 << 30), ("512M", 512 << 20), ("1.5T", int(1.5 * (1 << 40))),
                                        ("81GB", 81 << 30), ("4gib", 4 << 30), ("1024", 1024)])
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "0G", "-1G", "9 Z"])
def test_a_bad_size_names_the_option(text):
    with pytest.raises(ValueError, match=f"--agentbench-memory-budget: '{text}': not a size"):
        parse_size(text, "--agentbench-memory-budget")


def test_peak_memory_is_read_from_proc_for_a_process_and_its_children():
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "b = bytearray(64 << 20); import time; time.sleep(30)"])
    try:
        import time

        deadline = time.monotonic() + 10
        reading = read_memory(os.getpid())
        while reading.peak_rss < (64 << 20) and time.monotonic() < deadline:
            time.sleep(0.05)
            reading = read_memory(os.getpid())
        assert reading.processes >= 2 and reading.peak_rss >= 64 << 20  # the child's 64 MiB counted
    finally:
        child.kill()
        child.wait()


def test_the_coresident_models_attempts_are_interleaved(bench):
    bench.canary()
    managed(bench, ("coder", "vision"))
    result = bench.pytester.runpytest("canaries", "--models", "coder,vision", "--repeats", "2",
                                      "--agentbench-coreside", "vision,coder", "--collect-only", "-q",
                                      "-p", "no:cacheprovider")
    ids = [line.split("[")[1].rstrip("]") for line in result.stdout.lines if "::hello[" in line]
    assert ids == ["vision-r0", "coder-r0", "vision-r1", "coder-r1"]


def test_gpu_memory_is_read_from_nvidia_smi_for_the_servers_processes(tmp_path, monkeypatch):
    # No GPU here: a stand-in nvidia-smi answering the query read_memory makes.
    fake = tmp_path / "nvidia-smi"
    fake.write_text(f"#!/bin/sh\n[ \"$1\" = --query-compute-apps=pid,used_memory ] || exit 2\n"
                    f"echo '{os.getpid()}, 2048'\necho '1, 4096'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    reading = read_memory(os.getpid())
    assert reading.gpu == 2048 << 20  # this process's MiB only, not pid 1's
    assert reading.total_now == reading.rss + (2048 << 20)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert read_memory(os.getpid()).gpu is None  # no nvidia-smi: unknown, not zero


GROWING_SERVER = """
import sys, time
from pytest_agentbench.testing import ScriptedServer, call, say
ballast = []
def reply(body):
    # A KV cache filling up: the first request makes this server 300 MiB bigger, for real.
    if not ballast:
        ballast.append(b"\\x01" * (300 << 20))
    turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
    return call("write_file", path="hello.py", content="def hello():\\n    return 'hi'\\n") if turn == 0 else say("Done.")
ScriptedServer(reply, port=int(sys.argv[1])).start()
time.sleep(3600)
"""


def test_a_set_that_grows_past_the_budget_mid_run_stops_before_the_next_attempt(bench):
    bench.canary()
    marker = f"agentbench-coreside-grow-{os.getpid()}"
    (bench.pytester.path / "agentbench.toml").write_text(
        '[models.coder]\nmodel = "scripted"\n[models.coder.server]\n'
        f"command = {json.dumps([sys.executable, '-c', GROWING_SERVER, '{port}', marker])}\n")
    result = bench.pytester.runpytest("canaries", "--repeats", "3", "--agentbench-json", "report.json",
                                      "-p", "no:cacheprovider", "--models", "coder",
                                      "--agentbench-coreside", "coder", "--agentbench-memory-budget", "200M")
    report = json.loads((bench.pytester.path / "report.json").read_text())
    # It fit at start (a Python server is far below 200 MiB); the first attempt grew it past.
    assert [a["outcome"] for a in report["attempts"]] == ["passed"]
    assert report["incomplete"] is True and len(report["missing"]) == 2
    assert "grew to" in report["coreside"]["grew_past_budget"]
    result.stdout.fnmatch_lines(["*co-resident: STOPPED: co-resident models coder grew to * MiB "
                                 "(coder * MiB), past the 200.0 MiB memory budget*"])
    assert result.ret != 0
    assert running(marker) == []


# -- where memory cannot be measured (no /proc: macOS, a BSD) ---------------------------------------

@pytest.fixture
def no_proc(monkeypatch, tmp_path):
    """A machine without /proc, as macOS is: the measuring functions find nothing to read."""
    from pytest_agentbench.servers import memory

    monkeypatch.setattr(memory, "PROC", tmp_path / "no-proc")
    return memory


def test_without_proc_nothing_is_measured_and_the_ram_comes_from_sysconf(no_proc):
    assert no_proc.unmeasurable().startswith("no ") and "on this machine (macOS, a BSD)" in no_proc.unmeasurable()
    assert no_proc.read_memory(os.getpid()) is None
    assert no_proc.machine_ram() == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def test_with_proc_memory_is_measurable():
    from pytest_agentbench.servers.memory import unmeasurable

    assert unmeasurable() == ""


def test_unmeasured_co_residence_says_so_and_falls_back_to_declared_sizes(bench, no_proc):
    bench.canary()
    marker = managed(bench, ("coder", "vision"), memory={"coder": "1G"})
    result = run(bench, "--models", "coder", "--agentbench-coreside", "coder,vision",
                 "--agentbench-memory-budget", "4G")
    result.assert_outcomes(passed=1)
    why = no_proc.unmeasurable()
    result.stdout.fnmatch_lines([
        (f"agentbench: memory cannot be measured here ({why}): the co-resident models are checked by "
         "their declared memory (registry `memory`): coder 1.0 GiB, vision none declared (not counted)"),
        f"memory: coder: not measured ({why}); declared 1.0 GiB",
        "co-resident: coder, vision within a 4.0 GiB budget by their declared memory (not measured here)"])
    report = json.loads((bench.pytester.path / "report.json").read_text())
    assert report["coreside"]["measured"] is False and report["coreside"]["not_measured"] == why
    assert report["coreside"]["at_start"] == {}
    assert report["models"]["coder"]["memory"] == {"declared": "1G", "not_measured": why}
    # both servers were started before the first attempt all the same
    assert (bench.pytester.path / ".agentbench" / "servers" / "vision.log").exists()
    assert running(marker) == []


def test_unmeasured_declared_sizes_over_the_budget_are_still_refused(bench, no_proc):
    bench.canary()
    managed(bench, ("coder", "vision"), memory={"coder": "3G", "vision": "2G"})
    result = run(bench, "--models", "coder", "--agentbench-coreside", "coder,vision",
                 "--agentbench-memory-budget", "4G")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([("*--agentbench-coreside: coder, vision need 5.0 GiB together (declared: "
                                  "coder 3.0 GiB, vision 2.0 GiB), more than the 4.0 GiB budget*")])
