"""Find the addresses a new haproxy configuration would bind that something else holds.

Checked before a reload, not left to haproxy: a new process that cannot bind a port asks
the running workers to pause all their listeners, retries for about a second, then gives
up and resumes them, so every listener of the load balancer refuses connections meanwhile.
A probe socket with haproxy's own options (SO_REUSEADDR, SO_REUSEPORT) meets the same
conflicts haproxy would, and costs nothing to the running listeners.
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import socket


@dataclasses.dataclass(frozen=True)
class Bind:
    frontend: str
    address: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


def binds(config: str) -> list[Bind]:
    """The TCP address:port of every `bind` line, with the frontend it belongs to.

    UNIX sockets, abstract namespaces and anything that does not parse are left out: they
    are haproxy's to judge.
    """
    result = []
    section = ""
    for raw in config.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        if not raw[:1].isspace():
            section = " ".join(words[:2])
            continue
        if words[0] != "bind" or len(words) < 2 or not section.startswith(("frontend ",
                                                                             "listen ")):
            continue
        host, sep, port = words[1].rpartition(":")
        host = host.strip("[]")
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            continue
        if sep and port.isdigit() and 0 < int(port) < 65536:
            result.append(Bind(section.split()[1], address, int(port)))
    return result


def taken(config: str, running: str | None) -> list[Bind]:
    """Binds of `config` that the `running` configuration does not hold already and
    that another socket holds (EADDRINUSE). Other bind errors are left to haproxy."""
    held = {(b.address, b.port) for b in binds(running)} if running else set()
    result = []
    for bind in binds(config):
        if (bind.address, bind.port) in held:
            continue
        family = socket.AF_INET6 if ":" in bind.address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                probe.bind((bind.address, bind.port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    result.append(bind)
    return result


def describe(conflicts: list[Bind]) -> str:
    """haproxy's own wording, so that the reason reads the same whoever found it."""
    return "\n".join(f"Binding for frontend {bind.frontend}: cannot bind socket (Address "
                     f"already in use) for [{bind}]" for bind in conflicts)
