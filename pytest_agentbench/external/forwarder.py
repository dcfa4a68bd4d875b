"""Inside an external agent's jail: serve the recording proxy on the jail's own loopback, then run
the agent. Standard library only — it runs as ``python -I -S -c <this source> SOCKET PORT --
AGENT...`` inside bubblewrap, where this package is not importable.

The jail has its own network namespace (no route anywhere, not even to the host's loopback), so
an agent configured with ``http://127.0.0.1:PORT/v1`` reaches this forwarder and nothing else; the
forwarder's only way out is the proxy's Unix socket, bound into the jail. Exits with the agent's
exit code (128 + signal when it was killed).
"""

import select
import socket
import subprocess
import sys
import threading


def pump(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    sockets = [a, b]
    try:
        while True:
            ready, _, _ = select.select(sockets, [], [])
            for source in ready:
                data = source.recv(65536)
                if not data:
                    return
                (b if source is a else a).sendall(data)
    except OSError:
        pass
    finally:
        a.close()
        b.close()


def serve(listener: socket.socket, path: str) -> None:
    while True:
        client, _ = listener.accept()
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(path)
        except OSError:
            client.close()
            upstream.close()
            continue
        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()


def main() -> int:
    path, port, separator, *agent = sys.argv[1:]
    assert separator == "--" and agent, "usage: SOCKET PORT -- AGENT..."
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(port)))
    listener.listen(64)
    threading.Thread(target=serve, args=(listener, path), daemon=True).start()
    try:
        code = subprocess.call(agent)
    except OSError as exc:
        sys.stderr.write(f"agentbench: could not start the agent: {exc}\n")
        return 127
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
