"""Shared helpers: build canaries inside a pytester directory and run them against a
ScriptedServer (a real loopback HTTP server), so every test exercises the whole plugin."""

from __future__ import annotations

import encodings.idna  # noqa: F401 (warm-up: see below)
import importlib
import json
import pkgutil
import textwrap
from pathlib import Path

import httpx
import hypothesis  # noqa: F401 (warm-up: see below)
import jinja2  # noqa: F401 (warm-up: see below)
import matplotlib.backends.backend_svg
import matplotlib.figure  # noqa: F401
import pytest

import pytest_agentbench
from pytest_agentbench.servers.preflight import PROBE_TOOL
from pytest_agentbench.servers.speed_probe import is_probe
from pytest_agentbench.testing import ScriptedServer

# pytester's in-process runs drop the modules first imported inside them, and the next run imports
# fresh copies: an exception class of a fresh copy is then not the one a kept module catches (a
# TreeError escaped an `except safe_fs.TreeError` that way). The whole plugin is imported once,
# here, so every run shares one copy — and no run pays for importing it again.
for _module in pkgutil.walk_packages(pytest_agentbench.__path__, "pytest_agentbench."):
    if not _module.name.endswith("__main__"):
        importlib.import_module(_module.name)

# httpx imports httpcore
# lazily, on its first Client: without this warm-up each run would import fresh httpcore
# exception classes and httpx could no longer map them (a ReadTimeout would escape unmapped).
httpx.Client().close()
# Likewise the HTML report's renderer imports Jinja2 and matplotlib on first use (imported above,
# once): numpy's C extension refuses a second import in one process. And hypothesis's pytest plugin
# imports hypothesis for its header line in every in-process run: ~80 modules, 0.17 s a run when
# pytester drops them after each (measured with cProfile: the largest cost of a short e2e test).

def agent_requests(server: ScriptedServer) -> list[dict]:
    """The agent loop's requests, without the preflight's one-off tool and speed probes."""
    probe = PROBE_TOOL["function"]["name"]
    return [r for r in server.requests if not is_probe(r)
            and not any(t.get("function", {}).get("name") == probe for t in r.get("tools", []))]


def seeded(script: list[dict]):
    """A list script whose plain replies end with the request's ``seed``: the repeats of a
    canary (each sends its own seed) then differ, as they would at a temperature above 0."""
    def reply(body: dict) -> dict:
        turn = sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")
        answer = script[turn] if turn < len(script) else {"content": "Done."}
        if answer.get("content") and not answer.get("tool_calls"):
            answer = {**answer, "content": f"{answer['content']} (seed {body.get('seed')})"}
        return answer
    return reply


# A cheap check (no nested pytest): hello.py must define hello() returning "hi".
HELLO_CHECK = "python -c \"import hello, sys; sys.exit(0 if hello.hello() == 'hi' else 1)\""
HELLO_SOURCE = "def hello():\n    return 'hi'\n"


def canary_toml(
    prompt: str = "Create hello.py with a function hello() that returns 'hi'.",
    tier: str = "lite",
    run: list[str] | None = None,
    expect_changed: list[str] | None = None,
    extra: str = "",
) -> str:
    run = [HELLO_CHECK] if run is None else run
    expect_changed = ["hello.py"] if expect_changed is None else expect_changed
    return textwrap.dedent(
        f"""\
        tier = "{tier}"
        tags = ["python"]
        prompt = {json.dumps(prompt)}
        {extra}
        [verify]
        run = {json.dumps(run)}
        expect_changed = {json.dumps(expect_changed)}
        """
    )


class Bench:
    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester

    def canary(self, name: str = "hello", toml: str | None = None, repo: dict | None = None,
               hidden: dict | None = None, **toml_args) -> Path:
        directory = self.pytester.path / "canaries" / name
        (directory / "repo").mkdir(parents=True, exist_ok=True)
        (directory / "canary.toml").write_text(toml if toml is not None else canary_toml(**toml_args))
        for files, sub in ((repo or {"README.md": "# demo\n"}, "repo"), (hidden or {}, "hidden")):
            for relative, content in files.items():
                target = directory / sub / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
        return directory

    def run(self, server: ScriptedServer, *args: str, models: str = "m", repeats: int = 1,
            subprocess: bool = False) -> pytest.RunResult:
        model_arg = ",".join(f"{name}@{server.url}" for name in models.split(","))
        argv = ["canaries", "--models", model_arg, "--repeats", str(repeats),
                "--agentbench-json", "report.json", "--agentbench-retry-backoff", "0.01",
                "-p", "no:cacheprovider", "-v", *args]
        runner = self.pytester.runpytest_subprocess if subprocess else self.pytester.runpytest
        return runner(*argv)

    def report(self) -> dict:
        return json.loads((self.pytester.path / "report.json").read_text())


# pytest plugins this suite's own dependencies install that no run under test uses: each costs a
# pytest process 0.06-0.13 s to load (hypothesis's imports its whole package for a header line),
# 0.19 s of the 0.88 s CPU a one-attempt run takes in a subprocess (measured), paid again by every
# xdist worker such a run starts.
UNUSED_PLUGINS = "-p no:hypothesispytest -p no:anyio -p no:platformdirs"


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester whose in-process runs ignore PytestAssertRewriteWarning. Such a run shares
    sys.modules with the pytest running this suite; when the plugin was imported outside the
    assertion-rewrite hook, pytest warns that it "cannot be rewritten" — seen in CI on one worker,
    depending on test order. That is about this test harness, not the plugin, and it must not
    change the outcome counts the tests assert on. Its runs, in-process, in a subprocess or in
    their xdist workers, leave out the plugins in UNUSED_PLUGINS."""
    monkeypatch.setenv("PYTEST_ADDOPTS", UNUSED_PLUGINS)
    inline_run = pytester.inline_run

    def quiet(*args, **kwargs):
        return inline_run("-W", "ignore::pytest.PytestAssertRewriteWarning", *args, **kwargs)

    pytester.inline_run = quiet  # type: ignore[method-assign]
    return pytester


@pytest.fixture
def bench(pytester: pytest.Pytester) -> Bench:
    return Bench(pytester)


# The suite's longest tests (5-20 s each on 2 cores: real llama-server runs, every built-in canary,
# the cheaters in both tiers, interrupted remote workers) start first under `-n`: started last, one
# of them would run alone on one core while the other core has nothing left to do. One worker runs
# the real-model tests, one after the other, while the other runs the rest (see below).
REAL_MODEL_TESTS = "tests/test_embedded.py::"
LONGEST_FIRST = (
    REAL_MODEL_TESTS,
    "tests/test_builtin_canaries.py::",
    "tests/test_cheaters_e2e.py::",
    "tests/test_import_graph.py::test_every_module_imports_on_its_own",
    "tests/test_fuzz_dispatch.py::",
    "tests/test_integrity_e2e.py::",
    "tests/test_ssh_workers_e2e.py::",
    "tests/test_ceilings_e2e.py::",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)),
                    len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: the rest keep their order


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """xdist's default distribution (``load``), except that the real-model tests are one unit of
    work, run by one worker: two llama-servers on the same 2 cores would halve each one's speed,
    and their lock made a worker wait up to 18 s (measured). Not an ``xdist_group`` mark: with
    pytest 9.2, pytest-xdist 3.8 loses those groups. Only for ``--dist load`` (what ``-n`` picks)."""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SuiteScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return REAL_MODEL_TESTS if nodeid.startswith(REAL_MODEL_TESTS) else nodeid

    return SuiteScheduling(config, log)
