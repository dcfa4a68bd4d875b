"""Past one machine: pytest-xdist's remote workers over a real SSH connection.

An ``sshd`` of our own runs on loopback (a generated host key, one authorized client key, key
login only) and xdist reaches it through execnet's ``ssh`` gateway, as it would reach a GPU box.
The worker "host" runs in its own copy of the suite at another path, so a result that named a
worker-side file, or a run that wrote its records there, shows. Checked: the same attempts,
outcomes and gates as a serial run, with the database, the report and the transcripts on the
controller; SIGTERM to the controller stops a remote worker mid-attempt and keeps what finished;
a worker host without bubblewrap refuses to start (rather than run unjailed), and the run ends.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pytest_agentbench.run.interrupts import interrupts_held
from pytest_agentbench.sandbox.commands import bubblewrap_problem
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE, canary_toml

# sshd lives in sbin, often not on a non-root PATH.
_SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])
SSHD = shutil.which("sshd", path=_SEARCH)
SSH = shutil.which("ssh")
SSH_KEYGEN = shutil.which("ssh-keygen")

GOOD = [call("write_file", path="hello.py", content=HELLO_SOURCE), say("Done.")]
PHANTOM = [say("All done, hello.py is written.")]
HOST_ALIAS = "agentbench-loopback"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LoopbackSshd:
    """A private sshd on 127.0.0.1 and an ssh_config naming it, so a spec reads like a real
    host's: ``ssh_config=FILE//ssh=agentbench-loopback//python=...//chdir=...``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.user = getpass.getuser()
        self.process: subprocess.Popen | None = None
        self.log = directory / "sshd.log"
        self.ssh_config = directory / "ssh_config"
        for name in ("host_key", "client_key"):
            subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", name, "-f",
                            str(directory / name)], check=True)
        shutil.copy(directory / "client_key.pub", directory / "authorized_keys")

    def start(self) -> None:
        if os.geteuid() == 0:
            # sshd run as root insists on its privilege-separation directory; a package install
            # without a running system service (a container, CI) may not have created it yet.
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        for _ in range(5):  # a free port can be taken between probing it and sshd's bind
            port = _free_port()
            config = self.directory / "sshd_config"
            config.write_text("\n".join([
                "ListenAddress 127.0.0.1", f"Port {port}",
                f"HostKey {self.directory / 'host_key'}",
                f"PidFile {self.directory / 'sshd.pid'}",
                f"AuthorizedKeysFile {self.directory / 'authorized_keys'}",
                # Key login only; root may log in (CI containers run as root), never by password.
                "PubkeyAuthentication yes", "PasswordAuthentication no",
                "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password", "UsePAM no",
                # The keys sit under /tmp (world-writable): StrictModes would refuse them.
                "StrictModes no", "",
            ]))
            self.ssh_config.write_text("\n".join([
                f"Host {HOST_ALIAS}", "  HostName 127.0.0.1", f"  Port {port}", f"  User {self.user}",
                f"  IdentityFile {self.directory / 'client_key'}", "  IdentitiesOnly yes",
                "  StrictHostKeyChecking no", "  UserKnownHostsFile /dev/null", "  BatchMode yes",
                "  LogLevel ERROR", "",
            ]))
            with self.log.open("ab") as log:
                # -D: stay in the foreground, so the fixture owns the process; -e: log to the file.
                self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)],
                                                stdout=log, stderr=subprocess.STDOUT)
            if self._ready():
                return
            self.stop()
        pytest.fail(f"sshd did not accept a login; its log:\n{self.log.read_text()}")

    def _ready(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.process.poll() is None:
            probe = subprocess.run([SSH, "-F", str(self.ssh_config), HOST_ALIAS, "true"],
                                   capture_output=True, timeout=10, check=False)
            if probe.returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def tx(self, workers: int, chdir: Path) -> str:
        """An xdist ``--tx`` for ``workers`` workers logging in here, running this interpreter
        (the same virtual environment a real host would need) in ``chdir``."""
        return (f"{workers}*ssh_config={self.ssh_config}//ssh={HOST_ALIAS}"
                f"//python={sys.executable}//chdir={chdir}")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackSshd]:
    """Every test that needs SSH takes this fixture: it skips them where it cannot be had."""
    pytest.importorskip("xdist", reason="remote workers are pytest-xdist's")
    pytest.importorskip("execnet", reason="xdist's ssh gateway is execnet's")
    if not (SSHD and SSH and SSH_KEYGEN):
        pytest.skip("needs OpenSSH's sshd, ssh and ssh-keygen (apt-get install openssh-server)")
    server = LoopbackSshd(tmp_path_factory.mktemp("sshd"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def make_suite(root: Path, names: tuple[str, ...] = ("alpha", "beta")) -> None:
    """Canaries and an ini that names them (no path on the command line: see ``run``)."""
    for name in names:
        directory = root / "canaries" / name
        (directory / "repo").mkdir(parents=True)
        (directory / "repo" / "README.md").write_text("# demo\n")
        (directory / "canary.toml").write_text(canary_toml())
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["canaries"]\n')


def run(pytester: pytest.Pytester, server: ScriptedServer, json_name: str, *extra: str) -> pytest.RunResult:
    # Every path as --option=VALUE and no positional path: xdist maps an argument that names an
    # existing local path onto its rsync roots for remote workers, and fails on any other.
    # The gates pass although the phantom's 4 attempts fail: only gates evaluated on every
    # attempt's result can turn that into exit status 0.
    return pytester.runpytest(
        f"--models=good@{server.url},phantom@{server.url}", "--repeats=2",
        f"--agentbench-json={json_name}", "--agentbench-retry-backoff=0.01",
        "--agentbench-fail-under=good:1.0", "--agentbench-fail-under=0.5",
        "-p", "no:cacheprovider", "-v", *extra)


def essentials(report: dict) -> list[tuple]:
    return sorted((a["canary"], a["model"], a["variant"], a["repeat"], a["outcome"], a["detail"],
                   a["turns"], a["tool_calls"], a["files_changed"], a["canary_hash"], a["seed"])
                  for a in report["attempts"])


def gates(report: dict) -> list[tuple]:
    return [(g["ok"], g["n"], g["total"], g["missing"], g["infra_errors"]) for g in report["gates"]]


def logins(sshd: LoopbackSshd) -> int:
    return sshd.log.read_text().count("Accepted publickey")


def test_ssh_workers_give_the_serial_results_and_the_controller_keeps_them(pytester, sshd, tmp_path_factory):
    make_suite(pytester.path)
    worker_checkout = tmp_path_factory.mktemp("worker-host") / "suite"
    make_suite(worker_checkout)  # the suite at another path on the "worker host"
    with ScriptedServer({"good": GOOD, "phantom": PHANTOM}) as server:
        serial = run(pytester, server, "serial.json")
        before = logins(sshd)
        remote = run(pytester, server, "remote.json", "-d", "--tx", sshd.tx(2, worker_checkout))
    serial_report = json.loads((pytester.path / "serial.json").read_text())
    remote_report = json.loads((pytester.path / "remote.json").read_text())
    out = remote.stdout.str()

    # Two ssh logins, two workers, and every attempt ran in the worker's checkout.
    assert logins(sshd) - before == 2
    assert "[gw0]" in out and "[gw1]" in out, out
    run_id = remote_report["run_id"]
    on_worker = sorted((worker_checkout / ".agentbench" / "runs" / run_id / "transcripts").glob("*.jsonl"))
    assert len(on_worker) == 8

    # The same attempts with the same outcomes as the serial run, and the same gates.
    assert len(serial_report["attempts"]) == 8
    assert essentials(remote_report) == essentials(serial_report)
    assert remote_report["summary"] == serial_report["summary"]
    assert gates(remote_report) == gates(serial_report) == [(True, 4, 4, 0, 0), (True, 8, 8, 0, 0)]
    assert serial.ret == remote.ret == 0
    assert remote_report["incomplete"] is False and remote_report["missing"] == []

    # The results database is the controller's: both runs in it, none on the worker host.
    db = sqlite3.connect(pytester.path / ".agentbench" / "results.sqlite")
    recorded = db.execute("SELECT run_id, COUNT(*) FROM attempts GROUP BY run_id").fetchall()
    db.close()
    assert sorted(recorded) == sorted([(serial_report["run_id"], 8), (run_id, 8)])
    assert not (worker_checkout / ".agentbench" / "results.sqlite").exists()
    assert not (worker_checkout / "remote.json").exists()

    # The transcripts came home: each result names the controller's copy, which is the worker's.
    home = pytester.path / ".agentbench" / "runs" / run_id / "transcripts"
    for attempt in remote_report["attempts"]:
        transcript = Path(attempt["transcript"])
        assert transcript.parent == home
        assert transcript.read_bytes() == (worker_checkout / transcript.relative_to(pytester.path)).read_bytes()
    # ... and so does the failure text of the phantom attempts.
    # (On a CI machine pytest repeats the whole failure text in the short summary, so a path can
    # be named twice: count the distinct ones.)
    named = {line for line in out.splitlines() if line.startswith("transcript: ")}
    assert len(named) == 4 and all(line.startswith(f"transcript: {home}/") for line in named)


def attempts_recorded(db: Path) -> int:
    if not db.exists():  # the run is recorded once its workers have collected
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
        except sqlite3.OperationalError:  # the file is there, its tables not yet
            return 0


def pgrep(pattern: str) -> bytes:
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True, check=False).stdout


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.1)


@contextmanager
def sigint_handled() -> Iterator[None]:
    """Python's Ctrl-C handler in this process for the block. A suite started as a background
    job (`nohup pytest &`) inherits SIGINT ignored, and an ignored signal stays ignored across
    exec: a Ctrl-C would neither reach a child started here nor, released by interrupts_held,
    this process. A handled one is reset to the default in a child at exec."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def interrupt_controller(controller: subprocess.Popen) -> None:
    """SIGTERM to the controller alone: a CI cancel, `kill`, a container stop."""
    controller.send_signal(signal.SIGTERM)


def press_ctrl_c(controller: subprocess.Popen) -> None:
    """Ctrl-C in a terminal: SIGINT to the whole foreground process group — the controller and
    its ssh clients, whose connections drop at once."""
    os.killpg(controller.pid, signal.SIGINT)


@pytest.mark.parametrize("interrupt", [interrupt_controller, press_ctrl_c], ids=["sigterm", "ctrl-c"])
def test_an_interrupt_stops_remote_workers_cleans_up_and_keeps_what_finished(
        pytester, sshd, tmp_path_factory, interrupt):
    # One attempt per worker (xdist deals fewer than two tests per worker round-robin): `fast`
    # finishes, `slow` is inside a 30 s shell command on the other worker when the signal comes.
    make_suite(pytester.path, ("alpha",))
    worker_host = tmp_path_factory.mktemp("worker-host")
    make_suite(worker_host / "suite", ("alpha",))
    workdir = worker_host / "work"
    probe = f"agentbench-ssh-probe-{os.getpid()}"
    slow = [call("shell", command=f"sleep 30 && echo {probe}", timeout=60), *GOOD]
    db = pytester.path / ".agentbench" / "results.sqlite"

    with ScriptedServer({"fast": GOOD, "slow": slow}) as server:
        argv = [sys.executable, "-m", "pytest", f"--models=fast@{server.url},slow@{server.url}",
                "--repeats=1", "--agentbench-json=report.json", f"--agentbench-workdir={workdir}",
                "-p", "no:cacheprovider", "-d", "--tx", sshd.tx(2, worker_host / "suite")]
        # Its own process group, as a terminal gives a foreground job (and not ours); SIGINT
        # not ignored, whatever this suite inherited (see sigint_handled).
        with (pytester.path / "controller.log").open("wb") as log, sigint_handled():
            controller = subprocess.Popen(argv, cwd=pytester.path, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        try:
            wait_for(lambda: attempts_recorded(db) == 1 and pgrep(probe), 30,
                     "fast's result and slow's command")
            interrupt(controller)
            controller.wait(timeout=40)
        finally:
            if controller.poll() is None:
                os.killpg(controller.pid, signal.SIGKILL)
    output = (pytester.path / "controller.log").read_text()
    assert controller.returncode == pytest.ExitCode.INTERRUPTED, output
    report = json.loads((pytester.path / "report.json").read_text())
    assert report["interrupted"] is True
    assert [(a["model"], a["outcome"]) for a in report["attempts"]] == [("fast", "passed")]
    assert attempts_recorded(db) == 1
    # The remote worker is interrupted too — told by execnet to shut down, or cut off, it
    # interrupts itself after 5 s: its command is killed, and its worktrees, pooled or not, and
    # its work directory are removed on the worker host.
    wait_for(lambda: not pgrep(probe), 15, "the remote shell command to end")
    wait_for(lambda: not workdir.exists() or not any(workdir.iterdir()), 15,
             "the remote work directory to go")


@pytest.mark.skipif(bool(bubblewrap_problem()), reason=f"no bubblewrap here: {bubblewrap_problem()}")
def test_a_worker_host_without_bubblewrap_refuses_rather_than_run_unjailed(pytester, sshd, tmp_path_factory):
    # The controller has bubblewrap, so its header and report say "bubblewrap"; the worker's
    # PATH (execnet's env: key, set before pytest starts there) finds no bwrap: a host without it.
    make_suite(pytester.path, ("alpha",))
    worker_host = tmp_path_factory.mktemp("worker-host")
    make_suite(worker_host / "suite", ("alpha",))
    (worker_host / "bin").mkdir()
    tx = f"{sshd.tx(1, worker_host / 'suite')}//env:PATH={worker_host / 'bin'}"
    before = logins(sshd)
    with ScriptedServer(GOOD) as server:
        # A subprocess with a timeout: before the restart bound, this run never ended.
        result = pytester.runpytest_subprocess(
            f"--models=m@{server.url}", "--repeats=1", "--agentbench-json=report.json",
            "-p", "no:cacheprovider", "-d", "--tx", tx, timeout=60)
    output = result.stdout.str()
    result.stdout.fnmatch_lines(["*agentbench: sandbox: bubblewrap*"])
    assert "--agentbench-sandbox bubblewrap: bwrap is not installed" in output
    # The worker is replaced as often as `-n 1` would allow (4 times), then the run ends.
    assert "maximum crashed workers reached: 4" in output
    assert logins(sshd) - before == 5
    assert result.ret != 0 and json.loads((pytester.path / "report.json").read_text())["attempts"] == []
    assert attempts_recorded(pytester.path / ".agentbench" / "results.sqlite") == 0


def test_a_cleanup_under_interrupts_held_finishes_before_a_ctrl_c_lands():
    # What a worker's session close runs under when xdist's sessionfinish failed after an
    # interrupt: a second Ctrl-C must not cut the removal of its worktrees in half.
    finished = []
    with sigint_handled():
        with pytest.raises(KeyboardInterrupt), interrupts_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # a Python signal handler runs between bytecodes: it has run here
            finished.append(True)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert finished == [True]
