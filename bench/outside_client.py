"""Backends and a probing client in a process of their own, for benchmarks that time traffic.

    with outside_client("a", "b", "new") as outside:
        a, b, new = outside.backends                   # Backend(name, address, port) each
        outside.watch(vip, port, "new")                # start probing now
        ... POST ...
        seconds_at = outside.seen()                    # time.monotonic() of the first answer
        outside.served                                 # ... and of the backend's first answer

A benchmark that runs the control plane in its own process (as `ostia up` does) must not
answer or probe traffic from that process too: there, a backend's reply or a probe's next
connection waits for the interpreter lock while the worker settles statuses, and the figure
grows by however long that takes. Here both live in a child process; time.monotonic() is
one clock for all processes of the host, so its answer compares with the parent's readings.
The child ends with its standard input, so nothing outlives the benchmark.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

POLL = 0.005  # seconds between probes


class Backend(NamedTuple):
    name: str
    address: str
    port: int


class OutsideClient:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        assert proc.stdout is not None
        self.backends = [Backend(*b) for b in json.loads(proc.stdout.readline())]
        # time.monotonic() at which the backend named in the last `watch` sent its first
        # answer since (None without a name), stamped by the backend as it finishes one.
        self.served: float | None = None

    def watch(self, vip: str, port: int, name: str | None = None, timeout: float = 60.0) -> None:
        """Probe `vip:port` until it answers 200 (from backend `name`, when given)."""
        self._send({"vip": vip, "port": port, "name": name, "timeout": timeout})
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "watching":
            raise RuntimeError("the outside client did not start probing")

    def seen(self) -> float:
        """time.monotonic() of the first answer to the last `watch`; TimeoutError if none."""
        assert self.proc.stdout is not None
        answer = json.loads(self.proc.stdout.readline())
        if answer["seen"] is None:
            raise TimeoutError("the VIP did not answer in time")
        self.served = answer["served"]
        return float(answer["seen"])

    def _send(self, message: dict[str, object]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()


@contextlib.contextmanager
def outside_client(*names: str) -> Iterator[OutsideClient]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.outside_client", *names],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield OutsideClient(proc)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _answered(vip: str, port: int, name: str | None) -> bool:
    from tests.support.backends import fetch

    # Round robin over a pool: a new member answers within as many requests as members.
    for _ in range(3 if name else 1):
        try:
            status, body = fetch(vip, port, timeout=1)
        except OSError:
            continue
        if status == 200 and (name is None or body == name):
            return True
    return False


def _first_requests(backends: list[Any]) -> dict[str, float]:
    """Backend name -> time.monotonic() of its first answer since the dict was cleared
    (a backend counts a request after writing its answer)."""
    first: dict[str, float] = {}
    for backend in backends:
        server = backend._server
        count = server.count

        def counted(path: str, name: str = backend.name, count: Any = count) -> None:
            first.setdefault(name, time.monotonic())
            count(path)

        server.count = counted
    return first


def _serve(names: list[str]) -> None:
    from tests.support.backends import http_backends

    with http_backends(*names) as backends:
        first = _first_requests(backends)
        print(json.dumps([(b.name, b.address, b.port) for b in backends]), flush=True)
        for line in sys.stdin:
            ask = json.loads(line)
            first.clear()
            print("watching", flush=True)
            deadline = time.monotonic() + ask["timeout"]
            seen = None
            while time.monotonic() < deadline:
                if _answered(ask["vip"], ask["port"], ask["name"]):
                    seen = time.monotonic()
                    break
                time.sleep(POLL)
            served = first.get(ask["name"]) if ask["name"] else None
            print(json.dumps({"seen": seen, "served": served}), flush=True)


if __name__ == "__main__":
    _serve(sys.argv[1:])
