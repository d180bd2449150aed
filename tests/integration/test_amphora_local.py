"""Local amphorae with real processes: agent, haproxy, backends, heartbeats, mutual TLS.

One amphora serves most tests (each test brings its own load balancer, hence its own
haproxy); tests that kill or delete an amphora build their own.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator

import pytest

from ostia.common import exceptions
from ostia.db import models
from ostia.drivers.certs.authority import create_certificates
from ostia.drivers.compute import local_processes as procs
from ostia.drivers.compute.local_driver import LocalComputeDriver
from tests.support import lb_graph
from tests.support.amphora import short_tempdir
from tests.support.amphora_stack import LocalAmphora, LocalAmphoraStack, local_amphora_stack
from tests.support.backends import HttpBackend, fetch, free_port, http_backends


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalAmphoraStack]:
    with local_amphora_stack() as built:
        yield built


@pytest.fixture(scope="module")
def amphora(stack: LocalAmphoraStack) -> LocalAmphora:
    return stack.build_amphora()


@pytest.fixture
def vip(stack: LocalAmphoraStack, amphora: LocalAmphora) -> str:
    address = stack.allocate_vip()
    stack.plug_vip(amphora, address)
    return address


@pytest.fixture
def backends() -> Iterator[list[HttpBackend]]:
    with http_backends("alpha", "beta") as started:
        yield started


def web_lb(vip: str, backends: list[HttpBackend]) -> tuple[models.LoadBalancer, models.Pool]:
    """A load balancer with one HTTP listener and a round-robin pool of `backends`."""
    lb = lb_graph.load_balancer(vip)
    listener = lb_graph.listener(lb, free_port(vip))
    pool = lb_graph.pool(lb, listener)
    for backend in backends:
        lb_graph.member(pool, backend.address, backend.port)
    return lb, pool


def answers(vip: str, port: int, count: int) -> list[str]:
    result = []
    for _ in range(count):
        status, body = fetch(vip, port)
        assert status == 200, (status, body)
        result.append(body)
    return result


def port_of(lb: models.LoadBalancer) -> int:
    return lb.listeners[0].protocol_port


def test_requests_to_the_vip_alternate_between_members(
    stack: LocalAmphoraStack,
    amphora: LocalAmphora,
    vip: str,
    backends: list[HttpBackend],
) -> None:
    lb, _ = web_lb(vip, backends)
    stack.push(amphora, lb)
    seen = answers(vip, port_of(lb), 8)
    assert set(seen) == {"alpha", "beta"}
    assert all(first != second for first, second in zip(seen, seen[1:], strict=False)), seen


def test_listener_without_pool_answers_503(
    stack: LocalAmphoraStack,
    amphora: LocalAmphora,
    vip: str,
    backends: list[HttpBackend],
) -> None:
    lb, _ = web_lb(vip, backends)
    bare = lb_graph.listener(lb, free_port(vip))
    stack.push(amphora, lb)
    assert fetch(vip, bare.protocol_port)[0] == 503
    assert fetch(vip, port_of(lb))[0] == 200


@pytest.mark.parametrize("change", ["weight 0", "admin down"])
def test_a_member_with_weight_zero_or_admin_down_gets_no_traffic(
    stack: LocalAmphoraStack,
    amphora: LocalAmphora,
    vip: str,
    backends: list[HttpBackend],
    change: str,
) -> None:
    lb, pool = web_lb(vip, backends)
    beta = pool.members[1]
    if change == "weight 0":
        beta.weight = 0
    else:
        beta.enabled = False
    stack.push(amphora, lb)
    assert set(answers(vip, port_of(lb), 6)) == {"alpha"}
    assert backends[1].hits() == 0


def test_health_monitor_marks_a_killed_backend_down_in_the_next_heartbeat(
    stack: LocalAmphoraStack,
    amphora: LocalAmphora,
    vip: str,
    backends: list[HttpBackend],
) -> None:
    lb, pool = web_lb(vip, backends)
    lb_graph.health_monitor(pool, delay=1, timeout=1, fall=1, rise=1)
    stack.push(amphora, lb)
    backend_name = f"{pool.id}:{lb.listeners[0].id}"
    alpha, beta = (member.id for member in pool.members)

    def members(message: dict) -> dict:
        return message.get("pools", {}).get(backend_name, {}).get("members", {})

    stack.heartbeats.wait_for(lambda m: members(m) == {alpha: "UP", beta: "UP"}, 10, amphora.id)
    backends[1].stop()
    # haproxy sees it within delay x fall (+ one check timeout); the heartbeat after that
    # carries it. Two seconds of slack for a busy host.
    within = 1 * 1 + 1 + stack.heartbeat_interval + 2
    message = stack.heartbeats.wait_for(lambda m: members(m).get(beta) == "DOWN", within, amphora.id)
    assert members(message)[alpha] == "UP"
    assert message["ver"] == 3
    assert set(answers(vip, port_of(lb), 4)) == {"alpha"}


def test_an_invalid_upload_is_refused_and_the_old_config_keeps_serving(
    stack: LocalAmphoraStack,
    amphora: LocalAmphora,
    vip: str,
    backends: list[HttpBackend],
) -> None:
    lb, _ = web_lb(vip, backends)
    stack.push(amphora, lb)
    good = stack.agents.get_haproxy_config(amphora.ref, lb.id)
    broken = stack.render(amphora, lb).replace("balance roundrobin", "balance no-such-algorithm")
    with pytest.raises(exceptions.AgentInvalidRequest):
        stack.agents.upload_haproxy_config(amphora.ref, lb.id, broken)
    stack.agents.reload_loadbalancer(amphora.ref, lb.id)
    assert stack.agents.get_haproxy_config(amphora.ref, lb.id) == good
    assert set(answers(vip, port_of(lb), 4)) == {"alpha", "beta"}


def _handshake(amphora: LocalAmphora, context: ssl.SSLContext) -> None:
    """Connect, handshake and make one request; raises when the agent refuses us."""
    with socket.create_connection((amphora.ref.lb_network_ip, amphora.ref.api_port), 5) as raw:
        with context.wrap_socket(raw, server_hostname=amphora.id) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: amphora\r\nConnection: close\r\n\r\n")
            if not tls.recv(1024):
                raise ConnectionResetError("closed without an answer")


def test_the_agent_refuses_a_client_without_a_valid_certificate(
    stack: LocalAmphoraStack,
    amphora: LocalAmphora,
) -> None:
    def context(client_cert: str | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=stack.certs.server_ca_cert)
        if client_cert:
            ctx.load_cert_chain(client_cert)
        return ctx

    _handshake(amphora, context(stack.certs.client_cert_and_key))  # the real client passes
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _handshake(amphora, context(None))
    with short_tempdir() as elsewhere:
        foreign = create_certificates(elsewhere)
        with pytest.raises((ssl.SSLError, ConnectionError)):
            _handshake(amphora, context(foreign.client_cert_and_key))


def test_killing_the_agent_leaves_haproxy_serving_and_the_amphora_is_found_again(
    stack: LocalAmphoraStack,
    backends: list[HttpBackend],
) -> None:
    amphora = stack.build_amphora()
    address = stack.allocate_vip()
    stack.plug_vip(amphora, address)
    lb, _ = web_lb(address, backends)
    stack.push(amphora, lb)
    agent = amphora.agent_pid()
    assert agent is not None
    os.kill(agent, signal.SIGKILL)
    assert procs.wait_gone([agent], 5)
    assert set(answers(address, port_of(lb), 4)) == {"alpha", "beta"}

    restarted = LocalComputeDriver(stack.conf)
    found = restarted.get(amphora.instance.compute_id)
    assert found is not None and found.status == "SHUTOFF"
    assert amphora.instance.compute_id in [i.compute_id for i in restarted.list_instances()]

    haproxies = procs.processes_in(amphora.files.root)
    assert haproxies
    restarted.delete(amphora.instance.compute_id)
    assert_nothing_left(amphora, haproxies)
    with pytest.raises(OSError):
        fetch(address, port_of(lb), timeout=1)


def assert_nothing_left(amphora: LocalAmphora, pids: list[int]) -> None:
    assert not [pid for pid in pids if procs.is_running(pid)]
    assert procs.processes_in(amphora.files.root) == []
    assert not os.path.exists(amphora.files.root)


def test_ostia_down_purge_deletes_every_amphora_with_its_processes(
    backends: list[HttpBackend],
) -> None:
    # A stack of its own: purge removes every amphora under the state directory.
    with local_amphora_stack() as own:
        built = [own.build_amphora(), own.build_amphora()]
        address = own.allocate_vip()
        own.plug_vip(built[0], address)
        lb, _ = web_lb(address, backends)
        own.push(built[0], lb)
        before = {amp.instance.compute_id: procs.processes_in(amp.files.root) for amp in built}
        assert len(before[built[0].instance.compute_id]) >= 3  # agent, haproxy master, worker
        with open(os.path.join(own.state_dir, "octavia.conf"), "w") as handle:
            handle.write(
                f"[ostia]\nstate_dir = {own.state_dir}\n\n"
                f"[local_compute]\nmgmt_cidr = {own.conf.local_compute.mgmt_cidr}\n\n"
                "[controller_worker]\ncompute_driver = compute_local_driver\n"
            )

        result = subprocess.run(
            [
                os.path.join(os.path.dirname(sys.executable), "ostia"),
                "down",
                "--purge",
                "--state-dir",
                own.state_dir,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert result.returncode == 0, result.stderr
        assert "removed 2 amphorae" in result.stdout
        for amp in built:
            assert_nothing_left(amp, before[amp.instance.compute_id])
        assert own.compute.list_instances() == []
