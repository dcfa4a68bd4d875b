"""The command runner inside an attempt's persistent jail (see sandbox/jail.py). Standard library only:
it runs as ``python -I -S -c <this source> FD LIMITS`` inside bubblewrap, where this package is
not importable, so nothing here may import from ``pytest_agentbench``.

Protocol over the SOCK_SEQPACKET socket ``FD`` (one JSON object per message):

- host → here ``{"op": "run", "command", "cwd", "env"}`` with one file descriptor attached (the
  write end of the pipe that receives the command's stdout and stderr): start ``/bin/sh -c`` in a
  new session;
- host → here ``{"op": "kill"}``: SIGKILL every process of the jail but pid 1 (bwrap's init) and
  this one — the command's group, and anything that left it with ``setsid``; nothing outlives a
  command, as when each command had a jail of its own;
- here → host ``{"ready": true}`` once, when the limits are set;
- here → host ``{"exit": CODE}`` once per ``run``, when the shell has been reaped (a negative
  code: killed by that signal).

The rlimits in ``LIMITS`` (JSON ``{"RLIMIT_DATA": bytes, ...}``) are set here once, soft = hard,
before the first command: every command inherits them and cannot raise them again.
"""

import json
import os
import resource
import select
import signal
import socket
import sys
import time

MAX_MESSAGE = 1 << 20


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    # Inherited from bwrap, so inheritable: no command may hold the host's end of the protocol.
    sock.set_inheritable(False)
    # Not dumpable: a command (same user, same namespaces) may then neither ptrace this process
    # nor take its socket with pidfd_getfd (both need ptrace access), so it cannot speak for it.
    import ctypes

    PR_SET_DUMPABLE = 4
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise SystemExit("agentbench: prctl(PR_SET_DUMPABLE) failed")
    for name, value in json.loads(sys.argv[2]).items():
        resource.setrlimit(getattr(resource, name), (value, value))
    sock.send(b'{"ready": true}')
    child = None  # (pid, pidfd) of the running shell, until its exit is reported
    while True:
        ready, _, _ = select.select([sock] + ([child[1]] if child else []), [], [])
        if child and child[1] in ready:
            child = report_exit(sock, child)
            continue
        message, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 1)
        if not message:
            return  # the host closed its end: the attempt is over
        request = json.loads(message)
        if request["op"] == "run" and fds:
            if child:  # a protocol slip: never two commands at once
                sweep()
                child = report_exit(sock, child)
            child = start(request, fds.pop(0))
        elif request["op"] == "kill":
            sweep()
            if child:
                child = report_exit(sock, child)
        for fd in fds:
            os.close(fd)


def start(request: dict, output_fd: int) -> tuple:
    """Spawn ``/bin/sh -c COMMAND`` in its own session, output to the host's pipe, input from
    /dev/null. ``posix_spawn`` (a vfork in glibc) costs a fraction of a Python ``fork``.
    Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored across exec: the
    command gets the defaults back, or `yes | head` and the file-size limit would behave
    differently here than in a shell of its own."""
    try:
        os.chdir(request["cwd"])  # inherited by the spawned shell (posix_spawn has no chdir)
        pid = os.posix_spawn(
            "/bin/sh", ["/bin/sh", "-c", request["command"]], request["env"],
            file_actions=[(os.POSIX_SPAWN_DUP2, output_fd, 1), (os.POSIX_SPAWN_DUP2, output_fd, 2),
                          (os.POSIX_SPAWN_CLOSE, output_fd),
                          (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)],
            setsid=True, setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
    except OSError as exc:
        os.write(output_fd, f"agentbench: could not start the command: {exc}\n".encode())
        pid = os.posix_spawn("/bin/sh", ["/bin/sh", "-c", "exit 127"], {})
    finally:
        os.close(output_fd)
    return pid, os.pidfd_open(pid)


def report_exit(sock: socket.socket, child: tuple) -> None:
    """Reap the shell (waiting for it: it has exited, or the sweep has just killed it), tell the host."""
    pid, pidfd = child
    _, status = os.waitpid(pid, 0)
    os.close(pidfd)
    sock.send(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode())


def sweep() -> None:
    """SIGKILL every process here but init and this one, until none is left alive (a process
    caught mid-fork can leave a child: look again), then give init a moment to reap the dead, so
    the next command starts in a jail with nothing left of this one. The shell's own zombie is
    this process's child and stays: its exit status must survive the sweep."""
    me = os.getpid()
    for _ in range(200):
        states = {pid: _state(pid) for pid in _pids() if pid not in (1, me)}
        alive = [pid for pid, (zombie, _parent) in states.items() if not zombie]
        unreaped = [pid for pid, (zombie, parent) in states.items() if zombie and parent != me]
        if not alive and not unreaped:
            return
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.001)


def _pids() -> list:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _state(pid: int) -> tuple:
    """(is a zombie or gone, parent pid) of ``pid``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # "pid (comm) S ppid ...": comm may hold spaces and parentheses; the state follows the last ')'.
            fields = stat.read().rpartition(b")")[2].split()
            return fields[0] in (b"Z", b"X"), int(fields[1])
    except (OSError, IndexError, ValueError):
        return True, 0  # gone already


if __name__ == "__main__":
    main()
