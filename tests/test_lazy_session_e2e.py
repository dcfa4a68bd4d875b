"""A run that configures nothing for agentbench starts its session only when a canary turns up
(state.py): the results must still reach the controller, under one run id, also under xdist where
the controller promises workers a run id before it has a session."""

from __future__ import annotations

import re

import pytest

CONFTEST = """
import os
from pytest_agentbench.run.state import peek_session

def pytest_runtest_setup(item):
    session = peek_session(item.config)
    if session is not None:
        name = "run-" + os.environ.get("PYTEST_XDIST_WORKER", "main") + ".txt"
        with open(name, "a") as handle:
            handle.write(session.run_id + "\\n")
"""


@pytest.fixture(autouse=True)
def _not_an_xdist_worker(monkeypatch):
    # Under `pytest -n` this test runs in a worker; the runs it starts are not workers.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)


@pytest.fixture(params=[[], ["-n", "2"]], ids=["serial", "n2"])
def parallelism(request) -> list[str]:
    if request.param:
        pytest.importorskip("xdist")
    return request.param


def test_an_unconfigured_run_benchmarks_the_canaries_it_finds(bench, monkeypatch, parallelism):
    # The default model is the embedded one; without its server every attempt is an infra_error
    # (fast, and enough to follow the results to the controller).
    monkeypatch.setenv("AGENTBENCH_LLAMA_SERVER", "/nonexistent/llama-server")
    monkeypatch.delenv("AGENTBENCH_BASE_URL", raising=False)
    bench.canary()
    bench.pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    bench.pytester.makeconftest(CONFTEST)
    result = bench.pytester.runpytest("-p", "no:cacheprovider", *parallelism)
    text = result.stdout.str()
    found = re.search(r"agentbench summary · run (\S+)", text)
    assert found, text
    assert "infra_error=" in text and "embedded" in text
    run_ids = {line for path in bench.pytester.path.glob("run-*.txt")
               for line in path.read_text().split()}
    assert run_ids == {found[1]}  # every attempt ran in the controller's run
