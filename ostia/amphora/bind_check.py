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
import subprocess
import sys
from collections.abc import Sequence


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
        if words[0] != "bind" or len(words) < 2 or not section.startswith(("frontend ", "listen ")):
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


def taken(config: str, running: str | None, launcher: Sequence[str] = ()) -> list[Bind]:
    """Binds of `config` that the `running` configuration does not hold already and
    that another socket holds (EADDRINUSE). Other bind errors are left to haproxy.

    `launcher` is the command prefix that runs haproxy in its network namespace (`ip netns
    exec <ns>`): the probes then run there too, in a process of their own.
    """
    held = {(b.address, b.port) for b in binds(running)} if running else set()
    new = [b for b in binds(config) if (b.address, b.port) not in held]
    if not new or not launcher:
        return [b for b in new if _in_use(b.address, b.port)]
    argv = [*launcher, sys.executable, "-m", __name__, *(f"{b.address} {b.port}" for b in new)]
    try:
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return []  # haproxy will say it, at the price of a pause
    busy = set(result.stdout.decode().split("\n"))
    return [b for b in new if f"{b.address} {b.port}" in busy]


def _in_use(address: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def describe(conflicts: list[Bind]) -> str:
    """haproxy's own wording, so that the reason reads the same whoever found it."""
    return "\n".join(
        f"Binding for frontend {bind.frontend}: cannot bind socket (Address already in use) for [{bind}]"
        for bind in conflicts
    )


if __name__ == "__main__":
    # Probes inside a network namespace: arguments "address port", answers those in use.
    for argument in sys.argv[1:]:
        host, _, number = argument.partition(" ")
        if _in_use(host, int(number)):
            print(argument)
