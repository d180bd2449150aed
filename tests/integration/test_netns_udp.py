"""A UDP listener on a namespace amphora (root): nginx in the amphora's VIP namespace, the
agent's health checks and statistics from that namespace, members in namespaces of their
own; every datagram goes client namespace -> VIP -> member namespace."""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
import time
from typing import Any

import httpx

from ostia.amphora.haproxy_process import process_alive
from ostia.common import iproute
from ostia.drivers.compute import netns_driver
from tests.support.health_stack import lb_stats, status_tree, wait_until
from tests.support.netns_stack import (
    NetnsWorkerStack,
    in_namespace,
    kill_amphora,
    leftovers,
    netns_health_manager,
    netns_worker_stack,
    vip_holders,
)
from tests.support.objects import check, create_lb
from tests.support.udp_backends import UdpBackend, ask, udp_pool

SUBNET = "tenant-a-subnet"
OVERRIDES = {"api_settings": {"udp_connect_min_interval_health_monitor": -1}}


def _namespace_backend(
    stack: NetnsWorkerStack, cleanup: contextlib.ExitStack, name: str, address: str
) -> UdpBackend:
    """A UDP backend answering on `address`:53 in a host namespace of its own."""
    host = stack.host(name, SUBNET, address)

    def bind() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((address, 53))
        return sock

    backend = UdpBackend(name, in_namespace(host.namespace, bind))
    backend.thread = threading.Thread(target=backend.serve, daemon=True)
    backend.thread.start()
    cleanup.callback(backend.stop)
    return backend


def _create_dns_lb(http: httpx.Client, pool: dict[str, Any]) -> dict[str, Any]:
    """A load balancer on the tenant subnet with a UDP listener on port 53 over `pool`."""
    listener = {"protocol": "UDP", "protocol_port": 53, "default_pool": pool}
    return create_lb(http, vip_subnet_id=SUBNET, listeners=[listener])


def test_udp_listener_on_a_namespace_amphora() -> None:
    with (
        netns_worker_stack(overrides=OVERRIDES) as stack,
        netns_health_manager(stack),
        stack.api.client() as http,
        contextlib.ExitStack() as cleanup,
    ):
        client = stack.host("client", SUBNET, "198.18.64.100")
        backends = [
            _namespace_backend(stack, cleanup, name, address)
            for name, address in (("u1", "198.18.64.101"), ("u2", "198.18.64.102"))
        ]
        lb = _create_dns_lb(http, udp_pool((b.address, 53) for b in backends))
        lb = stack.wait_lb(http, lb["id"], timeout=60)
        vip = lb["vip_address"]

        def answers(count: int) -> collections.Counter[str | None]:
            return in_namespace(
                client.namespace, lambda: collections.Counter(ask(vip, 53) for _ in range(count))
            )

        assert answers(6) == {"u1": 3, "u2": 3}
        (amp,) = stack.amphorae.compute.list_instances()

        def statuses() -> tuple[str, list[str]]:
            (listener,) = status_tree(http, lb["id"])["listeners"]
            (served,) = listener["pools"]
            return (listener["operating_status"], sorted(m["operating_status"] for m in served["members"]))

        # Heartbeats (sent from the amphora's management namespace) carry the listener
        # nginx serves in the VIP namespace, and the checks the agent runs there.
        wait_until(lambda: statuses() == ("ONLINE", ["ONLINE", "ONLINE"]), 15, "listener and members ONLINE")
        wait_until(
            lambda: lb_stats(http, lb["id"])["total_connections"] >= 6,
            15,
            "the UDP sessions in the statistics",
        )

        backends[1].stop()
        wait_until(lambda: answers(4) == {"u1": 4}, 10, "the dead member out of rotation")
        wait_until(lambda: statuses() == ("ONLINE", ["ERROR", "ONLINE"]), 15, "the dead member ERROR")

        nginx = [
            pid
            for pid in iproute.netns_pids(netns_driver.vip_namespace(amp.compute_id))
            if b"nginx" in open(f"/proc/{pid}/cmdline", "rb").read()
        ]
        assert len(nginx) >= 2  # master and worker, in the VIP namespace
        check(http.delete(f"/v2/lbaas/loadbalancers/{lb['id']}", params={"cascade": "true"}), 204)
        stack.wait_lb(http, lb["id"], "DELETED", timeout=60)
        assert not any(process_alive(pid) for pid in nginx)
        assert leftovers(stack.netns.tag, [amp.compute_id], stack.netns.mgmt_bridge) == []


def test_udp_listener_moves_with_the_vip_of_an_active_standby_pair() -> None:
    overrides = {
        **OVERRIDES,
        "keepalived_vrrp": {"vrrp_advert_int": 0.1},
        "controller_worker": {"loadbalancer_topology": "ACTIVE_STANDBY"},
    }
    with (
        netns_worker_stack(overrides=overrides) as stack,
        stack.api.client() as http,
        contextlib.ExitStack() as cleanup,
    ):
        client = stack.host("client", SUBNET, "198.18.64.100")
        _namespace_backend(stack, cleanup, "u1", "198.18.64.101")
        lb = _create_dns_lb(http, udp_pool([("198.18.64.101", 53)], monitored=False))
        lb = stack.wait_lb(http, lb["id"], timeout=90)
        vip = lb["vip_address"]

        def answer() -> str | None:
            return in_namespace(client.namespace, lambda: ask(vip, 53, timeout=0.3))

        wait_until(lambda: answer() == "u1", 10, "the VIP answering")
        # Both amphorae run nginx on the VIP (the BACKUP binds it without holding it); kill
        # -9 of everything the one holding the VIP runs hands the datagrams to the other.
        holder = vip_holders(stack, vip)[0]
        kill_amphora(holder.compute_id)
        killed = time.monotonic()
        wait_until(lambda: answer() == "u1", 10, "the other amphora answering")
        print(
            f"UDP listener served again {time.monotonic() - killed:.2f} s after kill -9 "
            "of the amphora holding the VIP"
        )
