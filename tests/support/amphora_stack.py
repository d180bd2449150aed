"""Real local amphorae end to end, without the worker: certificates, agents, VIPs, configs.

    with local_amphora_stack() as stack, http_backends("a", "b") as (a, b):
        amp = stack.build_amphora()              # agent process answering over mutual TLS
        vip = stack.allocate_vip()               # 127.2.x.y from the local network driver
        stack.plug_vip(amp, vip)
        lb = lb_graph.load_balancer(vip)
        web = lb_graph.listener(lb, free_port(vip))
        pool = lb_graph.pool(lb, web)
        lb_graph.member(pool, a.address, a.port)
        stack.push(amp, lb)                      # render + upload + reload through the agent
        fetch(vip, web.protocol_port)            # -> (200, "a")

`local_amphora_stack()` makes, under a short /tmp directory: the controller's CAs and client
certificate (`ostia.drivers.certs.authority.create_certificates`), a configuration pointing at
them, a LocalComputeDriver (random private management /24), a LocalCertGenerator, the REST
amphora driver and the local network driver. Agents send heartbeats every second to
`stack.heartbeats` (a UDP socket in the test acting as health manager; `wait_for` decodes
with the stack's key). On exit every amphora is deleted (agent, haproxy, directory) and the
directory removed, whether the test passed or not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from oslo_config import cfg

from ostia.common import heartbeat_format
from ostia.controller.worker.haproxy.render import render_haproxy_config
from ostia.db import models
from ostia.drivers.amphora.base import AmphoraRef
from ostia.drivers.amphora.rest_driver import HaproxyRestAmphoraDriver
from ostia.drivers.certs.authority import CertificateFiles, create_certificates
from ostia.drivers.certs.local_generator import LocalCertGenerator
from ostia.drivers.compute.base import AmphoraSpec, ComputeInstance
from ostia.drivers.compute.local_driver import LocalComputeDriver
from ostia.drivers.compute.local_instance import InstanceFiles
from ostia.drivers.network.local_driver import LocalNetworkDriver
from tests.support.amphora import amphora_test_config, short_tempdir

AGENT_START_TIMEOUT = 20.0


class HeartbeatListener:
    """A UDP socket on 127.0.0.1 standing in for the health manager."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"

    def receive(self, timeout: float) -> dict[str, Any]:
        """The next heartbeat, verified and decoded; TimeoutError if none comes."""
        self.sock.settimeout(timeout)
        datagram, _ = self.sock.recvfrom(heartbeat_format.MAX_DATAGRAM)
        return heartbeat_format.decode(datagram, self.key)

    def drain(self) -> None:
        self.sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                self.sock.recv(heartbeat_format.MAX_DATAGRAM)

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float, amphora_id: str | None = None
    ) -> dict[str, Any]:
        """The first heartbeat (of `amphora_id`, if given) satisfying `predicate`."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching heartbeat within {timeout} s; last: {last}")
            try:
                message = self.receive(remaining)
            except TimeoutError:
                continue
            if amphora_id is not None and message.get("id") != amphora_id:
                continue
            last = message
            if predicate(message):
                return message

    def close(self) -> None:
        self.sock.close()


@dataclasses.dataclass(frozen=True)
class LocalAmphora:
    instance: ComputeInstance
    ref: AmphoraRef
    files: InstanceFiles

    @property
    def id(self) -> str:
        return self.instance.amphora_id

    def agent_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError), open(self.files.agent_pid) as handle:
            return int(handle.read())
        return None

    def agent_log(self) -> str:
        with contextlib.suppress(OSError), open(self.files.agent_log) as handle:
            return handle.read()
        return ""


class LocalAmphoraStack:
    def __init__(
        self, state_dir: str, heartbeat_interval: int = 1, overrides: dict[str, dict[str, Any]] | None = None
    ) -> None:
        self.state_dir = state_dir
        self.certs: CertificateFiles = create_certificates(os.path.join(state_dir, "certs"))
        options: dict[str, dict[str, Any]] = {
            # Fail fast in tests instead of upstream's ten minutes of retries.
            "haproxy_amphora": {
                "connection_max_retries": 3,
                "connection_retry_interval": 0.2,
                "rest_request_read_timeout": 30,
            },
        }
        for (section, option), value in self.certs.options().items():
            options.setdefault(section, {})[option] = value
        for section, values in (overrides or {}).items():
            options.setdefault(section, {}).update(values)
        self.conf: cfg.ConfigOpts = amphora_test_config(state_dir, options)
        self.heartbeat_key = uuid.uuid4().hex
        self.heartbeat_interval = heartbeat_interval
        self.heartbeats = HeartbeatListener(self.heartbeat_key)
        self.compute = LocalComputeDriver(self.conf)
        self.cert_generator = LocalCertGenerator(self.conf)
        self.agents = HaproxyRestAmphoraDriver(self.conf)
        self.network = LocalNetworkDriver(self.conf)
        self._vips: set[str] = set()

    def agent_settings(self) -> dict[str, dict[str, str]]:
        return {
            "health_manager": {
                "controller_ip_port_list": self.heartbeats.address,
                "heartbeat_key": self.heartbeat_key,
                "heartbeat_interval": str(self.heartbeat_interval),
            },
            "controller_worker": {"loadbalancer_topology": "SINGLE"},
        }

    def build_amphora(self, wait: bool = True) -> LocalAmphora:
        """Start an amphora with a fresh certificate; wait until its agent answers."""
        amphora_id = str(uuid.uuid4())
        cert = self.cert_generator.generate_amphora_cert(amphora_id)
        with open(self.certs.client_ca_cert, "rb") as handle:
            client_ca = handle.read()
        instance = self.compute.build(
            AmphoraSpec(
                amphora_id=amphora_id,
                server_pem=cert.certificate + cert.private_key,
                client_ca_pem=client_ca,
                agent_settings=self.agent_settings(),
            )
        )
        amp = LocalAmphora(
            instance=instance,
            ref=AmphoraRef(amphora_id, instance.lb_network_ip, self.conf.haproxy_amphora.bind_port),
            files=self.compute.instance_files(instance.compute_id),
        )
        if wait:
            try:
                self.agents.wait_for_agent(amp.ref, AGENT_START_TIMEOUT)
            except Exception as exc:
                raise AssertionError(f"agent did not answer; its log:\n{amp.agent_log()}") from exc
        return amp

    def allocate_vip(self, subnet: str = "private-subnet") -> str:
        """A random free address of a local subnet (random: other test runs share it)."""
        found = self.network.get_subnet(subnet)
        hosts = [str(h) for h in ipaddress.ip_network(found.cidr).hosts()]
        requested = random.choice([h for h in hosts[1:] if h not in self._vips])
        allocation = self.network.allocate_vip(found, requested, self._vips)
        self._vips.add(allocation.ip_address)
        return allocation.ip_address

    def plug_vip(self, amp: LocalAmphora, vip: str, subnet: str = "private-subnet") -> None:
        found = self.network.get_subnet(subnet)
        self.agents.plug_vip(
            amp.ref,
            vip,
            {"subnet_cidr": found.cidr, "gateway": found.gateway_ip, "mac_address": "fa:16:3e:00:00:01"},
        )

    def render(self, amp: LocalAmphora, lb: models.LoadBalancer) -> str:
        return render_haproxy_config(
            lb, self.conf, amphora_id=amp.id, base_path=amp.files.base_path, cert_dir=amp.files.base_cert_dir
        )

    def push(self, amp: LocalAmphora, lb: models.LoadBalancer) -> None:
        """What the worker does for a listener change: render, upload, reload."""
        self.agents.upload_haproxy_config(amp.ref, lb.id, self.render(amp, lb))
        self.agents.reload_loadbalancer(amp.ref, lb.id)

    def close(self) -> None:
        # Our keep-alive connections first: an agent shuts down faster without them.
        self.agents.close()
        try:
            for instance in self.compute.list_instances():
                with contextlib.suppress(Exception):
                    self.compute.delete(instance.compute_id)
        finally:
            self.agents.close()
            self.heartbeats.close()


@contextlib.contextmanager
def local_amphora_stack(
    heartbeat_interval: int = 1,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> Iterator[LocalAmphoraStack]:
    with short_tempdir("ostia-stack-") as state_dir:
        stack = LocalAmphoraStack(state_dir, heartbeat_interval, overrides)
        try:
            yield stack
        finally:
            stack.close()
