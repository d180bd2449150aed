"""SINGLE load balancers on namespace amphorae (root): real bridges, veths, nftables.

A client namespace and two backend namespaces sit on a tenant bridge; every request goes
client -> VIP (in the amphora's VIP namespace) -> member, never through the host's stack.
"""

from __future__ import annotations

import time

from ostia.amphora.netns_plug import NetnsPlugger
from ostia.common import constants as c
from ostia.common import iproute
from ostia.drivers.compute.netns_driver import NetnsComputeDriver, vip_namespace
from ostia.drivers.network.netns_driver import NetnsNetworkDriver
from tests.support.health_stack import status_tree, wait_until
from tests.support.netns_stack import (
    RequestLoop,
    amphora_memory_kib,
    kill_amphora,
    leftovers,
    netns_health_manager,
    netns_worker_stack,
)
from tests.support.objects import check

SUBNET = "tenant-a-subnet"


def _lb_body(vip: str | None, members: list[str], subnet: str = SUBNET) -> dict:
    pool = {
        "name": "pool",
        "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN",
        "members": [{"address": m, "protocol_port": 80} for m in members],
    }
    body = {
        "vip_subnet_id": subnet,
        "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": pool}],
    }
    if vip:
        body["vip_address"] = vip
    return body


def test_single_lb_lifecycle_on_namespace_amphorae() -> None:
    with netns_worker_stack() as stack, stack.api.client() as http:
        client = stack.host("client", SUBNET, "198.18.64.100")
        stack.backend("b1", SUBNET, "198.18.64.101")
        stack.backend("b2", SUBNET, "198.18.64.102")
        started = time.monotonic()
        lb = check(
            http.post(
                "/v2/lbaas/loadbalancers",
                json={"loadbalancer": _lb_body(None, ["198.18.64.101", "198.18.64.102"])},
            ),
            201,
        )["loadbalancer"]
        lb = stack.wait_lb(http, lb["id"], timeout=60)
        created = time.monotonic() - started
        vip = lb["vip_address"]
        bodies = [client.get(vip, 80) for _ in range(6)]
        print(f"LB creation on namespace amphorae: {created:.2f} s")
        assert [status for status, _ in bodies] == [200] * 6
        names = [body for _, body in bodies]
        assert sorted(set(names)) == ["b1", "b2"]
        assert all(a != b for a, b in zip(names, names[1:], strict=False)), names

        (amp,) = stack.amphorae.compute.list_instances()
        compute_ids = [amp.compute_id]
        print(f"memory of one namespace amphora (PSS): {amphora_memory_kib(amp.compute_id)} KiB")
        # The agent listens only on its management address, in its own namespace.
        assert amp.lb_network_ip.startswith("198.19.")
        # The VIP is on eth1 of the VIP namespace (what GET /1.0/interface/{ip} answers).
        plugger = NetnsPlugger(vip_namespace(amp.compute_id), stack.netns.state_dir)
        assert plugger.interface_of(vip) == "eth1"
        assert plugger.interface_of("198.18.64.250") is None

        # A restarted controller finds the amphora and its port again from what is on disk
        # and in the kernel, and plugs nothing twice.
        compute = NetnsComputeDriver(stack.conf)
        network = NetnsNetworkDriver(stack.conf)
        assert [(i.compute_id, i.status) for i in compute.list_instances()] == [(amp.compute_id, "ACTIVE")]
        namespace = compute.network_namespace(amp.compute_id)
        assert namespace is not None
        (port,) = network.ports_of(namespace)
        assert port.ip_address != vip
        assert network.plug_amphora_port(namespace, network.get_subnet(SUBNET), amp.amphora_id) == port

        listener_id = lb["listeners"][0]["id"]
        listener = check(http.get(f"/v2/lbaas/listeners/{listener_id}"), 200)["listener"]
        pool = listener["default_pool_id"]
        members = check(http.get(f"/v2/lbaas/pools/{pool}/members"), 200)["members"]
        b2 = next(m for m in members if m["address"] == "198.18.64.102")
        check(
            http.put(
                f"/v2/lbaas/pools/{pool}/members/{b2['id']}", json={"member": {"admin_state_up": False}}
            ),
            200,
        )
        stack.wait_lb(http, lb["id"])
        assert {client.get(vip, 80)[1] for _ in range(4)} == {"b1"}

        check(
            http.put(f"/v2/lbaas/listeners/{listener['id']}", json={"listener": {"default_pool_id": None}}),
            200,
        )
        stack.wait_lb(http, lb["id"])
        assert client.get(vip, 80)[0] == 503

        check(http.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true"), 204)
        stack.wait_lb(http, lb["id"], c.DELETED)
        assert stack.amphorae.compute.list_instances() == []
        assert (
            leftovers(
                stack.netns.tag, compute_ids, stack.netns.mgmt_bridge, stack.netns.netns_network.bridges()
            )
            == []
        )


def _member_statuses(http, lb_id: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    tree = status_tree(http, lb_id)
    return {
        m["address"]: m["operating_status"]
        for listener in tree["listeners"]
        for pool in listener["pools"]
        for m in pool["members"]
    }


def test_health_monitor_marks_a_dead_member_and_a_killed_amphora_is_replaced() -> None:
    with netns_worker_stack() as stack, netns_health_manager(stack), stack.api.client() as http:
        client = stack.host("client", SUBNET, "198.18.64.100")
        stack.backend("b1", SUBNET, "198.18.64.101")
        b2 = stack.backend("b2", SUBNET, "198.18.64.102")
        body = _lb_body("198.18.64.10", ["198.18.64.101", "198.18.64.102"])
        body["listeners"][0]["default_pool"]["healthmonitor"] = {
            "type": "HTTP",
            "delay": 1,
            "timeout": 1,
            "max_retries": 2,
            "url_path": "/",
        }
        lb = check(http.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body}), 201)["loadbalancer"]
        stack.wait_lb(http, lb["id"], timeout=60)
        wait_until(
            lambda: set(_member_statuses(http, lb["id"]).values()) == {c.ONLINE},
            20,
            "both members ONLINE from heartbeats over the lb-mgmt bridge",
        )

        b2.shutdown()
        b2.server_close()
        wait_until(
            lambda: _member_statuses(http, lb["id"]).get("198.18.64.102") == c.ERROR,
            20,
            "the dead member ERROR",
        )
        assert {client.get("198.18.64.10", 80)[1] for _ in range(4)} == {"b1"}

        (old,) = stack.amphorae.compute.list_instances()
        with RequestLoop(client.namespace, "198.18.64.10", 80, duration=60) as loop:
            time.sleep(0.5)
            killed_at = time.monotonic()
            kill_amphora(old.compute_id)
            wait_until(
                lambda: {i.compute_id for i in stack.amphorae.compute.list_instances()} - {old.compute_id},
                45,
                "a new amphora",
            )
            stack.wait_lb(http, lb["id"], timeout=60)
            settled = time.monotonic()
            wait_until(
                lambda: any(ok and t > settled for t, ok, _ in loop.results),
                10,
                "the VIP serving from the new amphora",
            )
        outage = loop.longest_gap(killed_at)
        print(f"SINGLE failover outage on namespace amphorae: {outage:.2f} s")
        (new,) = [i for i in stack.amphorae.compute.list_instances()]
        assert new.compute_id != old.compute_id
        assert not iproute.netns_exists(f"ost-vip-{old.compute_id}")
        check(http.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true"), 204)
        stack.wait_lb(http, lb["id"], c.DELETED)
        assert (
            leftovers(
                stack.netns.tag,
                [old.compute_id, new.compute_id],
                stack.netns.mgmt_bridge,
                stack.netns.netns_network.bridges(),
            )
            == []
        )
