"""Real HTTP backends and a plain HTTP client for data-plane tests.

`HttpBackend(name)` is a threaded HTTP/1.1 server (keep-alive) on 127.0.0.1:<free port>
that answers every GET with its own name; `stop()` closes the listening socket and every
open connection, as if the process had been killed. `http_backends("a", "b")` starts
several and stops them afterwards.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle the second waits for a delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.count(self.path)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.name = name
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        self.connections: set[socket.socket] = set()

    def count(self, path: str) -> None:
        with self._lock:
            self.hits[path] = self.hits.get(path, 0) + 1

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a peer that resets its connection is no news here

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self.connections.discard(request)
        super().shutdown_request(request)


class HttpBackend:
    def __init__(self, name: str) -> None:
        self.name = name
        self._server = _Server(name)
        self.address = "127.0.0.1"
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"backend-{name}",
            daemon=True,
        )
        self._thread.start()
        self.running = True

    def hits(self, path: str | None = None) -> int:
        """Requests served (for `path` only, when given)."""
        with self._server._lock:
            if path is None:
                return sum(self._server.hits.values())
            return self._server.hits.get(path, 0)

    def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        self._server.shutdown()
        self._server.server_close()
        with self._server._lock:
            open_connections = list(self._server.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)


@contextlib.contextmanager
def http_backends(*names: str) -> Iterator[list[HttpBackend]]:
    started: list[HttpBackend] = []
    try:
        for name in names:
            started.append(HttpBackend(name))
        yield started
    finally:
        for backend in started:
            backend.stop()


def fetch(host: str, port: int, path: str = "/", timeout: float = 5.0) -> tuple[int, str]:
    """One GET on a new connection: (status, body)."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def free_port(host: str) -> int:
    """A port nothing listens on at `host` now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
