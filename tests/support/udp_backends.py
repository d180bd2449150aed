"""Small UDP answer servers for UDP listener tests, and a DNS-like client.

    with udp_backends("a", "b") as (a, b):
        ask(vip, port)      # -> "a" or "b": each backend answers `<name>:<request>`
        b.stop()            # its port closes: datagrams to it get ICMP port-unreachable

Each backend is a thread in the test process with a socket on 127.0.0.1; all are stopped on
exit, pass or fail.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import threading
from collections.abc import Iterable, Iterator
from typing import Any

# A UDP-CONNECT monitor that decides after one check a second.
FAST_UDP_MONITOR = {"type": "UDP-CONNECT", "delay": 1, "timeout": 1, "max_retries": 1, "max_retries_down": 1}


@dataclasses.dataclass
class UdpBackend:
    name: str
    sock: socket.socket
    thread: threading.Thread | None = None
    received: int = 0

    @property
    def address(self) -> str:
        return str(self.sock.getsockname()[0])

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(2048)
            except OSError:
                return
            if peer is None:  # shut down
                return
            self.received += 1
            with contextlib.suppress(OSError):
                self.sock.sendto(self.name.encode() + b":" + data, peer)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        if self.thread is not None:
            self.thread.join(timeout=2)


def udp_pool(members: Iterable[tuple[str, int]], monitored: bool = True) -> dict[str, Any]:
    """A round-robin UDP pool body ("dns") over (address, port) members, watched by
    FAST_UDP_MONITOR unless `monitored` is False."""
    pool: dict[str, Any] = {"name": "dns", "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN"}
    if monitored:
        pool["healthmonitor"] = dict(FAST_UDP_MONITOR)
    pool["members"] = [{"address": address, "protocol_port": port} for address, port in members]
    return pool


@contextlib.contextmanager
def udp_backends(*names: str) -> Iterator[list[UdpBackend]]:
    backends = []
    try:
        for name in names:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            backend = UdpBackend(name, sock)
            backend.thread = threading.Thread(target=backend.serve, daemon=True, name=f"udp-backend-{name}")
            backend.thread.start()
            backends.append(backend)
        yield backends
    finally:
        for backend in backends:
            backend.stop()


def free_udp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def ask(host: str, port: int, timeout: float = 1.0) -> str | None:
    """One request from a fresh source port (as a DNS resolver does); the name of the
    backend that answered, "" for an empty datagram, None for no answer."""
    question = os.urandom(6).hex().encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(question, (host, port))
        try:
            answer = sock.recv(2048)
        except (TimeoutError, ConnectionRefusedError):
            return None
    name, _, echoed = answer.partition(b":")
    if answer and echoed != question:
        raise AssertionError(f"answer {answer!r} does not echo {question!r}")
    return name.decode()
