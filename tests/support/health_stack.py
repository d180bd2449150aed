"""A real health manager beside a worker stack, and tools to break and watch amphorae.

    with worker_stack() as stack, health_manager(stack) as hm:
        lb = create_serving_lb(stack, http, backends)     # amphora heartbeats go to `hm`
        kill_amphora(stack)                               # agent and haproxy, SIGKILL
        with RequestLoop(vip, port) as loop: ...          # bounded, records every result

`health_manager(stack)` binds the health manager to a free UDP port and points the stack's
`controller_ip_port_list` at it (so enter it before building amphorae); its failovers go
to the stack's in-process worker. Test intervals: heartbeats every second, stale after 3 s,
checked every second. `restart()` starts a fresh health manager on the same port.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from ostia.controller.health.service import HealthManagerService
from ostia.drivers.compute import local_processes as procs
from tests.support.backends import HttpBackend, fetch
from tests.support.objects import check
from tests.support.worker_stack import WorkerStack

TEST_HEALTH = {
    "heartbeat_timeout": 3,
    "health_check_interval": 1,
    "status_flush_interval": 0.1,
    "stats_write_interval": 0.5,
}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HealthManagerHandle:
    """The running health manager of a test; `restart()` replaces it on the same port."""

    def __init__(self, stack: WorkerStack, port: int) -> None:
        self.stack = stack
        self.port = port
        self.service: HealthManagerService | None = None

    def start(self) -> HealthManagerService:
        assert self.stack.worker is not None, "the health manager fails over via the worker"
        service = HealthManagerService(
            self.stack.conf, self.stack.db, drivers=self.stack.drivers, wake=self.stack.worker.wake
        )
        service.start()
        deadline = time.monotonic() + 10
        while service.bound_address is None:
            if time.monotonic() > deadline:
                service.stop()
                raise AssertionError("health manager did not bind its port")
            time.sleep(0.01)
        self.service = service
        return service

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None

    def restart(self) -> HealthManagerService:
        self.stop()
        return self.start()


@contextlib.contextmanager
def health_manager(stack: WorkerStack, **options: Any) -> Iterator[HealthManagerHandle]:
    port = free_udp_port()
    for name, value in {
        **TEST_HEALTH,
        **options,
        "bind_ip": "127.0.0.1",
        "bind_port": port,
        "controller_ip_port_list": [f"127.0.0.1:{port}"],
    }.items():
        stack.conf.set_override(name, value, "health_manager")
    handle = HealthManagerHandle(stack, port)
    handle.start()
    try:
        yield handle
    finally:
        handle.stop()


def serving_lb_body(
    vip: str, port: int, backends: list[HttpBackend], monitor: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A single-call create body: one HTTP listener, its pool and the backends as members."""
    pool: dict[str, Any] = {
        "name": "pool",
        "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN",
        "members": [{"address": b.address, "protocol_port": b.port} for b in backends],
    }
    if monitor is not None:
        pool["healthmonitor"] = monitor
    return {
        "vip_subnet_id": "private-subnet",
        "vip_address": vip,
        "listeners": [{"protocol": "HTTP", "protocol_port": port, "default_pool": pool}],
    }


def create_lb(stack: WorkerStack, http: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    lb = check(http.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body}), 201)["loadbalancer"]
    return stack.wait_lb(http, lb["id"])


def status_tree(http: httpx.Client, lb_id: str) -> dict[str, Any]:
    return check(http.get(f"/v2/lbaas/loadbalancers/{lb_id}/status"), 200)["statuses"]["loadbalancer"]


def lb_stats(http: httpx.Client, lb_id: str) -> dict[str, int]:
    return check(http.get(f"/v2/lbaas/loadbalancers/{lb_id}/stats"), 200)["stats"]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


def kill_amphora(stack: WorkerStack, compute_id: str) -> list[int]:
    """SIGKILL the agent and haproxy of one local amphora, as if its VM died."""
    root = stack.amphorae.compute.instance_files(compute_id).root
    pids = procs.processes_in(root)
    assert pids, f"nothing runs for amphora instance {compute_id}"
    for pid in pids:
        procs.signal_quietly(pid, signal.SIGKILL)
    assert procs.wait_gone(pids, 5), f"processes {pids} survived SIGKILL"
    return pids


class RequestLoop:
    """GETs against a VIP every `period` seconds in a thread, each result timestamped."""

    def __init__(self, host: str, port: int, period: float = 0.02, timeout: float = 0.5) -> None:
        self.host, self.port = host, port
        self.period, self.timeout = period, timeout
        self.results: list[tuple[float, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="request-loop", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ok = fetch(self.host, self.port, timeout=self.timeout)[0] == 200
            except OSError:
                ok = False
            self.results.append((time.monotonic(), ok))
            self._stop.wait(self.period)

    def __enter__(self) -> RequestLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def successes(self) -> int:
        return sum(1 for _, ok in list(self.results) if ok)

    def serving_since(self, after: float) -> float | None:
        """Time of the first success after `after` that no failure followed, if any."""
        since = None
        for at, ok in list(self.results):
            if at < after:
                continue
            if ok and since is None:
                since = at
            elif not ok:
                since = None
        return since


class RestartableBackend(HttpBackend):
    """An HttpBackend that can come back on the same port after `stop()`."""

    def restart(self) -> None:
        assert not self.running
        server = type(self._server)(self.name)
        server.server_close()
        server.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.socket.bind((self.address, self.port))
        server.server_address = server.socket.getsockname()
        server.server_activate()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"backend-{self.name}",
            daemon=True,
        )
        self._thread.start()
        self.running = True


@contextlib.contextmanager
def restartable_backends(*names: str) -> Iterator[list[RestartableBackend]]:
    started: list[RestartableBackend] = []
    try:
        for name in names:
            started.append(RestartableBackend(name))
        yield started
    finally:
        for backend in started:
            backend.stop()
