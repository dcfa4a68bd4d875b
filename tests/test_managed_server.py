"""Servers the plugin starts itself, with real processes: start, health wait, sharing under
xdist, stop at session end, and clear infra errors when a server cannot start."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import HELLO_SOURCE

# A real child process serving a ScriptedServer on the port the plugin picks.
SERVER_SOURCE = f"""
import sys, time
from pytest_agentbench.testing import ScriptedServer, call, say
script = [call("write_file", path="hello.py", content={HELLO_SOURCE!r}), say("Done.")]
ScriptedServer(script, port=int(sys.argv[1])).start()
time.sleep(3600)
"""


def registry(pytester: pytest.Pytester, command: list[str], **server: object) -> str:
    marker = f"agentbench-test-{uuid.uuid4().hex[:8]}"  # find the process by its command line
    block = "".join(f"{key} = {json.dumps(value)}\n" for key, value in server.items())
    pytester.makepyprojecttoml(
        "[tool.agentbench.models.local]\n"
        'model = "scripted"\n'
        "[tool.agentbench.models.local.server]\n"
        f"command = {json.dumps([*command, marker])}\n" + block
    )
    return marker


def running(marker: str) -> list[int]:
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue
    return pids


def report(pytester: pytest.Pytester) -> dict:
    return json.loads((pytester.path / "report.json").read_text())


def test_managed_server_is_started_used_and_stopped(bench):
    bench.canary()
    marker = registry(bench.pytester, [sys.executable, "-c", SERVER_SOURCE, "{port}"])
    result = bench.pytester.runpytest("canaries", "--models", "local", "--repeats", "2",
                                      "--agentbench-json", "report.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["agentbench: local: managed server, started on first use (command *)"])
    log = (bench.pytester.path / ".agentbench" / "servers" / "local.log").read_text()
    assert log.count("--- starting") == 1  # one server for the whole session
    assert report(bench.pytester)["models"]["local"]["server"]["kind"] == "openai-compatible"
    assert running(marker) == []


def test_one_server_is_shared_by_all_xdist_workers(bench):
    pytest.importorskip("xdist")
    bench.canary()
    marker = registry(bench.pytester, [sys.executable, "-c", SERVER_SOURCE, "{port}"])
    result = bench.pytester.runpytest("canaries", "--models", "local", "--repeats", "4", "-n", "2",
                                      "--agentbench-json", "report.json")
    result.assert_outcomes(passed=4)
    log = (bench.pytester.path / ".agentbench" / "servers" / "local.log").read_text()
    assert log.count("--- starting") == 1
    assert running(marker) == []


def test_a_server_that_exits_at_once_is_an_infra_error_that_stops_the_session(bench):
    bench.canary()
    registry(bench.pytester, [sys.executable, "-c", "import sys; print('bad flag'); sys.exit(3)"])
    result = bench.pytester.runpytest("canaries", "--models", "local", "--repeats", "3",
                                      "--agentbench-json", "report.json")
    attempts = report(bench.pytester)["attempts"]
    assert len(attempts) == 1  # the session stopped instead of failing every attempt the same way
    assert attempts[0]["outcome"] == "infra_error"
    assert "exited with code 3" in attempts[0]["detail"] and "bad flag" in attempts[0]["detail"]
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*Interrupted: agentbench: a model server cannot run the benchmark: "
                                 "local: model server could not be started*"])
    assert result.ret == 6  # its own exit status: not Ctrl-C (2), not a model that failed (1)


def test_a_server_that_never_gets_healthy_times_out(bench):
    bench.canary()
    marker = registry(bench.pytester, [sys.executable, "-c", "import time; time.sleep(60)"],
                      start_timeout=1)
    bench.pytester.runpytest("canaries", "--models", "local", "--repeats", "1",
                             "--agentbench-json", "report.json")
    [attempt] = report(bench.pytester)["attempts"]
    assert attempt["outcome"] == "infra_error" and "not healthy" in attempt["detail"]
    assert running(marker) == []


def test_missing_server_binary_names_the_problem(bench):
    bench.canary()
    registry(bench.pytester, ["/nonexistent/llama-server"])
    bench.pytester.runpytest("canaries", "--models", "local", "--repeats", "1",
                             "--agentbench-json", "report.json")
    [attempt] = report(bench.pytester)["attempts"]
    assert attempt["outcome"] == "infra_error" and "cannot run '/nonexistent/llama-server'" in attempt["detail"]


def test_a_managed_llama_server_gets_a_slot_per_worker_each_with_the_whole_context(tmp_path):
    from pytest_agentbench.report.header import managed_server
    from pytest_agentbench.schemas.models import ModelSpec, ServerSpec
    from pytest_agentbench.servers.llama_server import find_llama_server, server_command
    from pytest_agentbench.servers.managed import ServerStartError

    try:
        find_llama_server()
    except ServerStartError as exc:
        pytest.skip(f"llama-server is not installed: {exc}")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    spec = ServerSpec(gguf=str(gguf), context_window=4096)
    argv = server_command(spec, 8080, slots=spec.slots_for(3))
    assert argv[argv.index("--parallel") + 1] == "3"
    assert argv[argv.index("--ctx-size") + 1] == str(3 * 4096)  # llama-server splits -c among slots
    model = ModelSpec(name="m", server=spec)
    assert managed_server(model, 3).endswith("(llama-server, " + str(gguf) +
                                             ", 3 slots of context 4096, one per xdist worker)")
    assert managed_server(model, 1).endswith(", 1 slot of context 4096)")
    fixed = ModelSpec(name="m", server=ServerSpec(gguf=str(gguf), context_window=4096, slots=2))
    assert fixed.server.slots_for(4) == 2
    assert "2 slots of context 4096; 4 workers: attempts beyond its slots wait at the server" in \
        managed_server(fixed, 4)
