"""An agent that tries to get more out of the model than its budget allows (standard library
only, run by tests/test_proxy_budget.py as a real program, jailed or not).

``probe``: first it looks for the proxy's Unix socket (the command line of the forwarder that
started it names it) and tries to fill its directory and replace it; then it asks for endpoints,
methods and paths the proxy does not serve; then it sends 20 chat requests at once. ``query``: it sends ten chat
requests with a query string, and writes the solution once all ten were answered.

Each probe's result is a JSON line appended to ``probes.jsonl`` in the working directory (the
harness may kill the agent at any time: a file survives that, unread output need not)."""

import http.client
import json
import os
import socket
import sys
import threading
import urllib.parse

BASE = urllib.parse.urlsplit(os.environ["OPENAI_BASE_URL"])
CHAT = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
OTHER = [("POST", "/v1/completions"), ("POST", "/v1/embeddings"), ("GET", "/anything"),
         ("GET", "/v1/anything"), ("POST", "/v1/responses"), ("PUT", "/v1/chat/completions"),
         ("DELETE", "/v1/models"), ("HEAD", "/v1/chat/completions"), ("BREW", "/v1/chat/completions")]


def report(probe, **what):
    with open("probes.jsonl", "a") as handle:
        handle.write(json.dumps({"probe": probe, **what}) + "\n")


def send(method, path, body=None):
    connection = http.client.HTTPConnection(BASE.hostname, BASE.port, timeout=30)
    try:
        connection.request(method, path, body, {"Content-Type": "application/json"})
        return connection.getresponse().status
    except OSError as exc:
        return repr(exc)
    finally:
        connection.close()


def find_socket():
    """The socket named on the command line of one of this agent's ancestors (in the jail, the
    forwarder that started it) and present here. Only ancestors: unjailed, anything else on the
    host is none of this test's business."""
    pid = os.getppid()
    while pid > 1:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                words = handle.read().decode(errors="replace").split("\0")
            with open(f"/proc/{pid}/status") as handle:
                parent = int(next(line.split()[1] for line in handle if line.startswith("PPid:")))
        except (OSError, StopIteration, ValueError):
            return None
        for word in words:
            if word.endswith(".sock") and os.path.exists(word):
                return word
        pid = parent
    return None


def attempt(action):
    try:
        action()
        return "done"
    except OSError as exc:
        return f"refused: {exc.strerror}"


def tamper(path):
    """What the agent can do to the socket and the directory holding it."""
    folder = os.path.dirname(path)

    def replace():
        fake = socket.socket(socket.AF_UNIX)
        fake.bind(path)

    return {
        "create_file": attempt(lambda: open(os.path.join(folder, "filler"), "w").close()),
        "make_dir": attempt(lambda: os.mkdir(os.path.join(folder, "more"))),
        "unlink_socket": attempt(lambda: os.unlink(path)),
        "rename_socket": attempt(lambda: os.rename(path, path + ".old")),
        "rename_dir": attempt(lambda: os.rename(folder, folder + ".old")),
        "bind_over_socket": attempt(replace),
        "chmod_socket": attempt(lambda: os.chmod(path, 0o777)),
    }


def probe():
    path = find_socket()
    report("socket", path=path, **(tamper(path) if path else {}))
    report("other", statuses={f"{m} {p}": send(m, p, CHAT if m == "POST" else None) for m, p in OTHER})
    statuses = []
    barrier = threading.Barrier(20)

    def one(index):
        barrier.wait()
        statuses.append(send("POST", "/v1/chat/completions" + (f"?x={index}" if index % 2 else ""), CHAT))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report("concurrent", statuses=sorted(statuses, key=str))


def query():
    """Ten turns' worth of chat requests, the solution only once all ten were answered."""
    statuses = [send("POST", f"/v1/chat/completions?x={i}", CHAT) for i in range(10)]
    if statuses == [200] * 10:
        with open("hello.py", "w") as handle:
            handle.write("def hello():\n    return 'hi'\n")
    print(f"Done ({statuses})")


if __name__ == "__main__":
    {"probe": probe, "query": query}[sys.argv[1]]()
