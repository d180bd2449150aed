"""Namespace amphorae end to end (root): the worker stack on compute_netns_driver and
network_netns_driver, plus client and backend namespaces on the tenant bridges.

    with netns_worker_stack() as stack, stack.api.client() as http:
        client = stack.host("client", "tenant-a-subnet", "198.18.64.100")
        backend = stack.backend("b1", "tenant-a-subnet", "198.18.64.101")
        ...
        client.get(vip, 80)                      # (status, body), from inside `client`

Every run uses its own lb-mgmt bridge (`ost-tm<hex>`), so its tenant bridges, nftables
tables and namespaces are its own; on exit every amphora, namespace, veth, bridge, nftables
table and process the run made is removed, pass or fail. Traffic stays in these namespaces.
Sockets are made in a namespace by a thread that has entered it (setns is per thread).
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import http.server
import os
import random
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, TypeVar

import httpx
import pytest

from ostia.common import iproute
from ostia.common.addresses import format_host_port
from ostia.controller.health.service import HealthManagerService
from ostia.drivers.compute import netns_driver
from ostia.drivers.compute.base import ComputeInstance
from ostia.drivers.compute.netns_driver import NetnsComputeDriver
from ostia.drivers.network import netns_firewall
from ostia.drivers.network.netns_driver import NetnsNetworkDriver
from tests.support.amphora import short_tempdir
from tests.support.amphora_stack import LocalAmphoraStack
from tests.support.health_stack import TEST_HEALTH
from tests.support.objects import create_lb
from tests.support.worker_stack import AGENT_RETRIES, WorkerStack

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
TENANT_CIDR = "198.18.64.0/24"


def require_namespaces() -> None:
    """Skip unless this test can make namespaces, bridges and nftables rules."""
    if os.geteuid() != 0:
        pytest.skip("namespace amphorae need root")
    for tool in ("ip", "nft", "keepalived", "haproxy", "socat"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            pytest.skip(f"{tool} is not installed")


def in_namespace(namespace: str, function: Callable[[], T]) -> T:
    """Run `function` in a thread that entered `namespace`; sockets it makes stay there."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(os.path.join(iproute.NETNS_DIR, namespace), os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns {namespace}")
            finally:
                os.close(fd)
            result["value"] = function()
        except BaseException as exc:  # handed to the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name=f"in-{namespace}")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def get(host: str, port: int, path: str = "/", timeout: float = 2.0) -> tuple[int, str]:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


class NamespaceHost:
    """A namespace with one interface on a tenant bridge (a client or a member VM)."""

    def __init__(self, namespace: str, host_if: str, bridge: str, address: str, prefix: int) -> None:
        self.namespace = namespace
        self.host_if = host_if
        self.address = address
        iproute.add_netns(namespace)
        iproute.add_veth(host_if, "eth0", namespace, bridge)
        iproute.ip("addr", "add", f"{address}/{prefix}", "dev", "eth0", netns=namespace)
        iproute.ip("link", "set", "eth0", "up", netns=namespace)

    def get(self, host: str, port: int, path: str = "/", timeout: float = 2.0) -> tuple[int, str]:
        return in_namespace(self.namespace, lambda: get(host, port, path, timeout))

    def close(self) -> None:
        iproute.delete_link(self.host_if)
        iproute.delete_netns(self.namespace)


class _NamedHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: NamespaceBackend

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class NamespaceBackend(http.server.ThreadingHTTPServer):
    """An HTTP server answering its name, listening inside a backend namespace."""

    daemon_threads = True

    def __init__(self, name: str, address: str, port: int) -> None:
        super().__init__((address, port), _NamedHandler)
        self.name = name

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class RequestLoop:
    """A client in a namespace: one new connection every `interval` s, for at most
    `duration` s; records (time, ok, body) of every request."""

    def __init__(
        self,
        namespace: str,
        host: str,
        port: int,
        interval: float = 0.02,
        duration: float = 20.0,
        timeout: float = 0.3,
    ) -> None:
        self.results: list[tuple[float, bool, str]] = []
        self._stop = threading.Event()
        self._args = (namespace, host, port, interval, duration, timeout)
        self._thread = threading.Thread(target=self._run, name="request-loop", daemon=True)

    def _run(self) -> None:
        namespace, host, port, interval, duration, timeout = self._args

        def loop() -> None:
            end = time.monotonic() + duration
            while not self._stop.is_set() and time.monotonic() < end:
                started = time.monotonic()
                try:
                    status, body = get(host, port, timeout=timeout)
                    self.results.append((started, status == 200, body))
                except (OSError, http.client.HTTPException) as exc:
                    self.results.append((started, False, type(exc).__name__))
                time.sleep(max(0.0, interval - (time.monotonic() - started)))

        in_namespace(namespace, loop)

    def __enter__(self) -> RequestLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def longest_gap(self, after: float) -> float:
        """The longest interruption from `after` on: for each run of failed requests, the
        time from the start of the success before it to the start of the success after it
        (a slow success is not an interruption). Infinite if nothing succeeded after."""
        results = sorted(self.results)
        last_ok: float | None = None
        failing = False
        longest = 0.0
        for started, ok, _ in results:
            if ok:
                if failing and last_ok is not None and started > after:
                    longest = max(longest, started - last_ok)
                last_ok, failing = started, False
            elif started > after or failing:
                failing = True
        if failing or last_ok is None:
            return float("inf")
        return longest


class NetnsAmphoraStack(LocalAmphoraStack):
    """LocalAmphoraStack's certificates and agents, with namespace compute and network."""

    def __init__(
        self, state_dir: str, heartbeat_interval: int = 1, overrides: dict[str, dict[str, Any]] | None = None
    ) -> None:
        tag = uuid.uuid4().hex[:6]
        self.tag = tag
        self.mgmt_bridge = f"ost-tm{tag}"
        netns = {
            "netns_compute": {
                "mgmt_bridge": self.mgmt_bridge,
                "mgmt_cidr": f"198.19.{random.randint(0, 255)}.0/24",
                "amphora_dir": os.path.join(state_dir, "na"),
            },
            "netns_network": {
                "subnets": [f"tenant-a-subnet:{TENANT_CIDR}", f"tenant-b-subnet:{TENANT_CIDR}"]
            },
            "controller_worker": {
                "compute_driver": "compute_netns_driver",
                "network_driver": "network_netns_driver",
            },
        }
        for section, values in (overrides or {}).items():
            netns.setdefault(section, {}).update(values)
        super().__init__(state_dir, heartbeat_interval, netns)
        self.compute = NetnsComputeDriver(self.conf)  # type: ignore[assignment]
        self.network = NetnsNetworkDriver(self.conf)  # type: ignore[assignment]
        self.compute.ensure_mgmt_network()
        self.hosts: list[NamespaceHost] = []

    @property
    def netns_compute(self) -> NetnsComputeDriver:
        assert isinstance(self.compute, NetnsComputeDriver)
        return self.compute

    @property
    def netns_network(self) -> NetnsNetworkDriver:
        assert isinstance(self.network, NetnsNetworkDriver)
        return self.network

    def host(self, name: str, subnet: str, address: str) -> NamespaceHost:
        bridge = self.netns_network.ensure_subnet_bridge(subnet)
        found = self.netns_network.get_subnet(subnet)
        prefix = int(found.cidr.split("/")[1])
        suffix = uuid.uuid4().hex[:8]
        host = NamespaceHost(f"ost-test-{self.tag}-{name}", f"ost-h{suffix}", bridge, address, prefix)
        self.hosts.append(host)
        return host

    def close(self) -> None:
        try:
            super().close()
        finally:
            for host in self.hosts:
                with contextlib.suppress(Exception):
                    host.close()
            # Any namespace of an amphora whose directory went missing.
            for namespace in iproute.list_netns(f"{iproute.PREFIX}test-{self.tag}"):
                iproute.delete_netns(namespace)
            self.netns_network.remove_bridges()
            self.netns_compute.remove_mgmt_network()


class NetnsWorkerStack(WorkerStack):
    def __init__(self, amphorae: NetnsAmphoraStack, in_process_worker: bool = True) -> None:
        super().__init__(amphorae, in_process_worker)
        self.netns = amphorae
        self._servers: list[NamespaceBackend] = []

    def start(self) -> NetnsWorkerStack:
        super().start()
        return self

    def backend(self, name: str, subnet: str, address: str, port: int = 80) -> NamespaceBackend:
        """An HTTP member answering `name`, in a namespace of its own on `subnet`."""
        host = self.netns.host(name, subnet, address)
        server = in_namespace(host.namespace, lambda: NamespaceBackend(name, address, port))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._servers.append(server)
        return server

    def host(self, name: str, subnet: str, address: str) -> NamespaceHost:
        return self.netns.host(name, subnet, address)

    def netns_config_file(self, extra: dict[str, dict[str, Any]] | None = None) -> str:
        """octavia.conf for an `octavia-worker` process on the namespace drivers."""
        conf = self.conf
        sections: dict[str, dict[str, Any]] = {
            "controller_worker": {
                "compute_driver": "compute_netns_driver",
                "network_driver": "network_netns_driver",
            },
            "netns_compute": {
                "mgmt_bridge": conf.netns_compute.mgmt_bridge,
                "mgmt_cidr": conf.netns_compute.mgmt_cidr,
                "amphora_dir": conf.netns_compute.amphora_dir,
            },
            "netns_network": {"subnets": list(conf.netns_network.subnets)},
        }
        for section, values in (extra or {}).items():
            sections.setdefault(section, {}).update(values)
        return self.config_file(sections)

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        super().stop()


@contextlib.contextmanager
def netns_health_manager(stack: NetnsWorkerStack) -> Iterator[HealthManagerService]:
    """The health manager on the host's lb-mgmt address, where amphorae send heartbeats
    (enter it before building amphorae: their agents get its address)."""
    host = stack.netns.netns_compute.host_address
    port = 5000 + os.getpid() % 1000
    for name, value in {
        **TEST_HEALTH,
        "bind_ip": host,
        "bind_port": port,
        "controller_ip_port_list": [format_host_port(host, port)],
    }.items():
        stack.conf.set_override(name, value, "health_manager")
    stack.netns.netns_compute.ensure_mgmt_network()  # the firewall opens the new port
    assert stack.worker is not None
    service = HealthManagerService(stack.conf, stack.db, drivers=stack.drivers, wake=stack.worker.wake)
    service.start()
    try:
        yield service
    finally:
        service.stop()


def kill_amphora(compute_id: str) -> None:
    """kill -9 every process of a namespace amphora, as if its VM died."""
    pids = [
        pid
        for ns in (netns_driver.amp_namespace(compute_id), netns_driver.vip_namespace(compute_id))
        for pid in iproute.netns_pids(ns)
    ]
    assert pids, f"nothing runs in amphora {compute_id}"
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def vip_holders(stack: NetnsWorkerStack, vip: str) -> list[ComputeInstance]:
    """The amphorae whose VIP namespace holds `vip` now: one in a whole ACTIVE_STANDBY pair,
    none while VRRP moves it, two while a dead MASTER's namespace still has it."""
    return [
        instance
        for instance in stack.amphorae.compute.list_instances()
        if any(
            info.get("local") == vip
            for link in iproute.ip_json("addr", "show", netns=netns_driver.vip_namespace(instance.compute_id))
            for info in link.get("addr_info", [])
        )
    ]


def http_lb_body(subnet: str, vip: str, members: Sequence[str]) -> dict[str, Any]:
    """The create body of a load balancer on `vip` with one HTTP listener on port 80 and a
    round-robin pool of `members` (their port 80)."""
    pool = {
        "name": "pool",
        "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN",
        "members": [{"address": address, "protocol_port": 80} for address in members],
    }
    return {
        "vip_subnet_id": subnet,
        "vip_address": vip,
        "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": pool}],
    }


class ServingPair(NamedTuple):
    client: NamespaceHost
    lb: dict[str, Any]
    seconds_to_active: float  # from the create call to ACTIVE


def serving_pair(stack: NetnsWorkerStack, http: httpx.Client, subnet: str, vip: str) -> ServingPair:
    """A client namespace (198.18.64.100), two members answering their names b1 and b2 on
    port 80 (.101, .102) and a load balancer on `vip` serving them over HTTP on port 80,
    ACTIVE (its topology is the stack's)."""
    members = ("198.18.64.101", "198.18.64.102")
    client = stack.host("client", subnet, "198.18.64.100")
    for name, address in zip(("b1", "b2"), members, strict=True):
        stack.backend(name, subnet, address)
    started = time.monotonic()
    lb = create_lb(http, **http_lb_body(subnet, vip, members))
    lb = stack.wait_lb(http, lb["id"], timeout=90)
    return ServingPair(client, lb, time.monotonic() - started)


def amphora_memory_kib(compute_id: str) -> int:
    """Proportional set size of everything an amphora runs (agent, haproxy, keepalived)."""
    total = 0
    for namespace in (netns_driver.amp_namespace(compute_id), netns_driver.vip_namespace(compute_id)):
        for pid in iproute.netns_pids(namespace):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
    return total


def leftovers(
    tag: str, compute_ids: list[str], mgmt_bridge: str, tenant_bridges: Sequence[str] = ()
) -> list[str]:
    """Whatever of a run's amphorae still exists: namespaces, veths (management, and VIP or
    member ports on `tenant_bridges`), processes."""
    found = []
    for bridge in tenant_bridges:
        found += [
            f"port {port} on {bridge}" for port in iproute.bridge_ports(bridge) if port.startswith("ost-p")
        ]
    for compute_id in compute_ids:
        for namespace in (netns_driver.amp_namespace(compute_id), netns_driver.vip_namespace(compute_id)):
            if iproute.netns_exists(namespace):
                found.append(f"netns {namespace}")
        if iproute.link_exists(netns_firewall.MGMT_PORT_PREFIX + compute_id):
            found.append(f"veth {netns_firewall.MGMT_PORT_PREFIX + compute_id}")
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError):
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    line = handle.read().replace(b"\0", b" ").decode(errors="replace")
                if any(cid in line for cid in compute_ids):
                    found.append(f"process {pid}: {line}")
    return found


@contextlib.contextmanager
def netns_worker_stack(
    overrides: dict[str, dict[str, Any]] | None = None, in_process_worker: bool = True
) -> Iterator[NetnsWorkerStack]:
    require_namespaces()
    options: dict[str, dict[str, Any]] = {"haproxy_amphora": dict(AGENT_RETRIES)}
    for section, values in (overrides or {}).items():
        options.setdefault(section, {}).update(values)
    with short_tempdir("ostns-") as state_dir:
        amphorae = NetnsAmphoraStack(state_dir, 1, options)
        try:
            stack = NetnsWorkerStack(amphorae, in_process_worker)
            try:
                yield stack.start()
            finally:
                stack.stop()
        finally:
            amphorae.close()
