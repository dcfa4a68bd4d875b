"""A managed server's ``hf_model``: the GGUF comes from the Hugging Face hub through the hub's own
client, into its cache, and the server starts on the downloaded file.

The hub is a real loopback HTTP server speaking the part of the hub protocol a download uses
(``HEAD``/``GET /{repo}/resolve/{revision}/{file}`` with ``X-Repo-Commit``, ``ETag`` and
``Content-Length``), reached through ``HF_ENDPOINT``; llama-server is a stand-in program
(``$AGENTBENCH_LLAMA_SERVER``) that reads the model file it is given and serves a script.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

from pytest_agentbench.schemas.models import ModelConfigError, ServerSpec, load_registry
from pytest_agentbench.servers.hub import HUB_HINT, HubFile, fetch_gguf
from pytest_agentbench.servers.llama_server import model_file
from pytest_agentbench.servers.managed import ServerStartError, free_port
from tests.conftest import HELLO_SOURCE

hub_constants = pytest.importorskip("huggingface_hub.constants")

REPO = "owner/tiny-GGUF"
FILE = "tiny-Q4_K_M.gguf"
CONTENT = b"GGUF" + bytes(range(256)) * 4
COMMIT = hashlib.sha1(b"the one commit").hexdigest()


class FakeHub:
    """Serves ``files`` ({"owner/repo": {"file.gguf": bytes}}) at one commit; records requests."""

    def __init__(self, files: dict[str, dict[str, bytes]]) -> None:
        self.files = files
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                hub.requests.append((self.command, self.path))
                parts = unquote(self.path.split("?")[0]).lstrip("/").split("/")
                repo = hub.files.get("/".join(parts[:2])) if parts[2:3] == ["resolve"] else None
                if repo is None or len(parts) < 5:
                    return self._error("RepoNotFound")
                content = repo.get("/".join(parts[4:]))
                if content is None:
                    return self._error("EntryNotFound")
                self.send_response(200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hashlib.sha256(content).hexdigest()}"')
                self.send_header("Content-Length", str(len(content)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if body:
                    self.wfile.write(content)

            def _error(self, code: str) -> None:
                self.send_response(404)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def count(self, method: str) -> int:
        """Requests for files (the hub client also asks the hub other things, now and then)."""
        return sum(1 for m, path in self.requests if m == method and "/resolve/" in path)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache: ``HF_HOME`` for child processes; this process's hub client
    read its cache directory when it was imported, so that is pointed there too."""
    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                 "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(home / "hub"))
    # Recent hub clients ask huggingface.co once a day which coding tools exist (for their user
    # agent), unless a fresh answer is cached: one is, so this process never leaves the machine.
    harnesses = home / ".agent_harnesses.json"
    harnesses.parent.mkdir(parents=True)
    harnesses.write_text('{"standardEnvVars": [], "harnesses": {}}')
    monkeypatch.setattr(hub_constants, "AGENT_HARNESSES_PATH", str(harnesses), raising=False)
    return home


@pytest.fixture
def hub(hf_home: Path, monkeypatch: pytest.MonkeyPatch):
    server = FakeHub({REPO: {FILE: CONTENT}})
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    yield server
    server.close()


def cached_path(hf_home: Path) -> Path:
    return hf_home / "hub" / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT / FILE


# --- the download itself ------------------------------------------------------------------------


def test_download_lands_in_the_cache_and_the_second_use_does_not_download_again(hub, hf_home):
    lines: list[str] = []
    path = fetch_gguf(HubFile(REPO, FILE), lines.append)
    assert path == cached_path(hf_home) and path.read_bytes() == CONTENT
    assert hub.count("GET") == 1
    assert lines[0] == f"downloading {REPO}:{FILE} (1.0 KiB) from {hub.url} into {hf_home / 'hub'}"
    assert lines[1].startswith(f"downloaded {FILE} (1.0 KiB) in ") and lines[1].endswith(f": {path}")
    assert len(lines) == 2

    lines.clear()
    assert fetch_gguf(HubFile(REPO, FILE), lines.append) == path
    assert hub.count("GET") == 1  # the cache served it: the hub was only asked whether it changed
    assert lines == []


def test_a_long_download_says_how_far_it_got(hub, hf_home, monkeypatch):
    from huggingface_hub import hf_hub_download

    from pytest_agentbench.servers import hub as hub_module

    if "tqdm_class" not in inspect.signature(hf_hub_download).parameters:
        pytest.skip("this huggingface_hub reports no progress to its caller")
    monkeypatch.setattr(hub_module, "PROGRESS_EVERY", 0.0)  # every chunk is "a minute later"
    lines: list[str] = []
    fetch_gguf(HubFile(REPO, FILE), lines.append)
    assert lines[0].startswith("downloading ") and lines[-1].startswith("downloaded ")
    assert lines[-2] == f"downloading {FILE}: 1.0 KiB of 1.0 KiB so far"


def test_a_missing_local_gguf_falls_back_to_hf_model(hub, hf_home, tmp_path):
    lines: list[str] = []
    missing = tmp_path / "models" / FILE
    spec = ServerSpec(gguf=str(missing), hf_model=f"{REPO}:{FILE}")
    assert model_file(spec, lines.append) == cached_path(hf_home)
    assert lines[0] == f"{missing} not found: using hf_model {REPO}:{FILE}"

    missing.parent.mkdir()
    missing.write_bytes(b"GGUF local")
    assert model_file(spec, lines.append) == missing  # a local file wins: the hub is not asked
    assert hub.count("HEAD") == 2  # both from the one download above


def test_an_unreachable_hub_is_a_clear_error(hf_home, monkeypatch):
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    with pytest.raises(ServerStartError) as raised:
        fetch_gguf(HubFile(REPO, FILE))
    message = str(raised.value)
    assert message.startswith(f"cannot download {FILE} of {REPO} (revision main) from {endpoint}: "
                              "cannot reach the hub (")
    assert f"not in the Hugging Face cache ({hf_home / 'hub'}) either" in message
    assert "Traceback" not in message and "\n" not in message


def test_an_unreachable_hub_falls_back_to_the_cached_copy(hub, hf_home, monkeypatch):
    path = fetch_gguf(HubFile(REPO, FILE))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    lines: list[str] = []
    assert fetch_gguf(HubFile(REPO, FILE), lines.append) == path
    assert "cannot reach the hub" in lines[0] and f"using the cached {path}" in lines[0]


def test_offline_mode_uses_the_cache_and_never_the_network(hub, hf_home, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ServerStartError, match="HF_HUB_OFFLINE is set and the file is not in the "
                                               "Hugging Face cache"):
        fetch_gguf(HubFile(REPO, FILE))
    assert hub.requests == []

    monkeypatch.delenv("HF_HUB_OFFLINE")
    path = fetch_gguf(HubFile(REPO, FILE))
    requests = len(hub.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert fetch_gguf(HubFile(REPO, FILE)) == path
    assert len(hub.requests) == requests


@pytest.mark.parametrize(("target", "why"), [
    (HubFile("owner/nothing-here", FILE), "no such repository (or it is private: set HF_TOKEN)"),
    (HubFile(REPO, "other.gguf"), "the repository has no file 'other.gguf' at revision 'main'"),
])
def test_what_the_hub_does_not_have_is_named(hub, target, why):
    with pytest.raises(ServerStartError) as raised:
        fetch_gguf(target)
    assert why in str(raised.value)
    assert hub.count("GET") == 0


def test_without_huggingface_hub_the_error_says_what_to_install(hf_home, monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails as if not installed
    spec = ServerSpec(hf_model=f"{REPO}:{FILE}")
    with pytest.raises(ServerStartError) as raised:
        model_file(spec)
    assert str(raised.value) == (f"hf_model {REPO}:{FILE}: downloading it needs the huggingface_hub "
                                 f"package: {HUB_HINT}")
    assert "pip install 'pytest-agentbench[hub]'" in str(raised.value)


# --- the registry ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("server", "error"), [
    ('hf_model = "owner/repo:Q4_K_M"', "'Q4_K_M' is not a .gguf file name"),
    ('hf_model = "just-a-name.gguf"', "give the repository and the file, as 'owner/repo:file.gguf'"),
    ('command = ["my-server"]\nhf_model = "owner/repo:m.gguf"', "command and hf_model cannot be combined"),
    ('gguf = "m.gguf"\nhf_revision = "v1"', "hf_revision needs hf_model"),
])
def test_registry_checks_hf_model_at_load(tmp_path, server, error):
    (tmp_path / "agentbench.toml").write_text(f"[models.local]\n[models.local.server]\n{server}\n")
    with pytest.raises(ModelConfigError, match="server"):
        load_registry(tmp_path)
    with pytest.raises(ModelConfigError) as raised:
        load_registry(tmp_path)
    assert error in str(raised.value)


def test_hf_revision_pins_what_is_downloaded(hub, hf_home):
    spec = ServerSpec(hf_model=f"{REPO}:{FILE}", hf_revision=COMMIT)
    assert model_file(spec) == cached_path(hf_home)
    assert all(f"/resolve/{COMMIT}/" in path for _, path in hub.requests if "/resolve/" in path)


# --- end to end: the plugin downloads, then starts llama-server on the file ------------------------

FAKE_LLAMA_SERVER = f"""#!{sys.executable}
import sys, time
args = sys.argv[1:]
model, port = args[args.index("--model") + 1], int(args[args.index("--port") + 1])
with open(model, "rb") as handle:
    print("fake llama-server: model", model, len(handle.read()), "bytes", flush=True)
from pytest_agentbench.testing import ScriptedServer, call, say
script = [call("write_file", path="hello.py", content={HELLO_SOURCE!r}), say("Done.")]
ScriptedServer(script, port=port).start()
time.sleep(3600)
"""


@pytest.fixture
def llama_server(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    program = pytester.path / "fake-llama-server"
    program.write_text(FAKE_LLAMA_SERVER)
    program.chmod(0o755)
    monkeypatch.setenv("AGENTBENCH_LLAMA_SERVER", str(program))
    return program


def hub_registry(pytester: pytest.Pytester, hf_model: str) -> None:
    pytester.makepyprojecttoml(
        "[tool.agentbench.models.local]\n"
        'model = "scripted"\n'
        "[tool.agentbench.models.local.server]\n"
        f"hf_model = {json.dumps(hf_model)}\n"
    )


def server_log(pytester: pytest.Pytester) -> str:
    return (pytester.path / ".agentbench" / "servers" / "local.log").read_text()


def test_the_plugin_downloads_the_gguf_and_starts_the_server_on_it(bench, hub, hf_home, llama_server):
    bench.canary()
    hub_registry(bench.pytester, f"{REPO}:{FILE}")
    args = ("canaries", "--models", "local", "--repeats", "1", "-p", "no:cacheprovider")
    # A child process: the hub client reads HF_HOME when it is imported, as in a user's run.
    result = bench.pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)
    path = cached_path(hf_home)
    result.stdout.fnmatch_lines([
        (f"agentbench: local: managed server, started on first use (llama-server, {REPO}:{FILE} "
         "from the Hugging Face hub, 1 slot of context 8192)"),
        f"agentbench: local: downloading {REPO}:{FILE} (1.0 KiB) from {hub.url} into {hf_home / 'hub'}",
        f"agentbench: local: downloaded {FILE} (1.0 KiB) in * s: {path}",
    ])
    assert f"--model {path} " in server_log(bench.pytester)
    assert f"fake llama-server: model {path} {len(CONTENT)} bytes" in server_log(bench.pytester)
    assert hub.count("GET") == 1

    again = bench.pytester.runpytest_subprocess(*args)  # a second session: the cache serves
    again.assert_outcomes(passed=1)
    assert "downloading" not in again.stdout.str() + again.stderr.str()
    assert server_log(bench.pytester).count(f"--model {path} ") == 2
    assert hub.count("GET") == 1


def test_xdist_workers_download_once_and_the_line_reaches_the_terminal(bench, hub, hf_home, llama_server):
    pytest.importorskip("xdist")
    bench.canary()
    hub_registry(bench.pytester, f"{REPO}:{FILE}")
    result = bench.pytester.runpytest_subprocess("canaries", "--models", "local", "--repeats", "2",
                                                 "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    output = result.stdout.str() + result.stderr.str()
    assert output.count(f"agentbench: local: downloading {REPO}:{FILE}") == 1
    assert output.count(f"agentbench: local: downloaded {FILE}") == 1
    assert hub.count("GET") == 1
    assert server_log(bench.pytester).count("--- starting") == 1


def test_an_unreachable_hub_stops_the_session_with_an_infra_error(bench, hf_home, monkeypatch):
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    bench.canary()
    hub_registry(bench.pytester, f"{REPO}:{FILE}")
    result = bench.pytester.runpytest("canaries", "--models", "local", "--repeats", "2",
                                      "--agentbench-json", "report.json", "-p", "no:cacheprovider")
    [attempt] = bench.report()["attempts"]  # the session stopped after the first
    assert attempt["outcome"] == "infra_error"
    assert (f"model server could not be started: cannot download {FILE} of {REPO} (revision main) "
            f"from {endpoint}: cannot reach the hub") in attempt["detail"]
    result.stdout.fnmatch_lines([("*Interrupted: agentbench: a model server cannot run the benchmark: local: model server could not be "
                                  f"started: cannot download {FILE} of {REPO}*")])
