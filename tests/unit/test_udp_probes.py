"""UDP-CONNECT and TCP probes against loopback sockets, and rise/fall counting."""

from __future__ import annotations

import http.server
import socket
import threading

from ostia.amphora.udp_config import HttpRequest
from ostia.amphora.udp_probes import MemberHealth, probe


def test_udp_connect_refused_port_is_down_silent_or_answering_is_up() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed,
    ):
        silent.bind(("127.0.0.1", 0))
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()
        closed.close()
        result = probe("UDP-CONNECT", [silent.getsockname(), dead], timeout=0.3)
        assert result == {silent.getsockname(): True, dead: False}
        assert silent.recv(100).startswith(b"\x00ostia-udp-connect-check")


def test_tcp_probe_needs_a_listening_port() -> None:
    with socket.socket() as server, socket.socket() as closed:
        server.bind(("127.0.0.1", 0))
        server.listen()
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()
        closed.close()
        assert probe("TCP", [server.getsockname(), dead], timeout=0.5) == {
            server.getsockname(): True,
            dead: False,
        }


def test_member_health_counts_fall_and_rise() -> None:
    health = MemberHealth()
    assert not health.record(False, rise=2, fall=3)
    assert not health.record(False, rise=2, fall=3)
    assert health.record(False, rise=2, fall=3) and not health.up
    assert not health.record(True, rise=2, fall=3)
    assert not health.record(False, rise=2, fall=3)  # a failure resets the streak
    assert not health.record(True, rise=2, fall=3)
    assert health.record(True, rise=2, fall=3) and health.up


def test_http_probe_wants_an_expected_status_for_its_request() -> None:
    seen: list[tuple[str, str, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:  # noqa: N802 - the stdlib's naming
            seen.append((self.command, self.path, self.headers.get("Host")))
            self.send_response(204 if self.path == "/health%20check" else 500)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        target = server.server_address[:2]
        good = HttpRequest("HEAD", "/health%20check", frozenset({200, 204}), "dns.example")
        assert probe("HTTP", [target], 1.0, good) == {target: True}
        assert seen == [("HEAD", "/health%20check", "dns.example")]
        bad = HttpRequest("HEAD", "/other", frozenset({200}), None)
        assert probe("HTTP", [target], 1.0, bad) == {target: False}
    finally:
        server.shutdown()
        server.server_close()
