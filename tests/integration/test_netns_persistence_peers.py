"""ACTIVE_STANDBY on namespace amphorae (root): session persistence survives a VRRP takeover.

SOURCE_IP persistence is a haproxy stick table; the pair shares it over the `peers` section
(each amphora's haproxy listens on its vrrp_ip:1025, started with `-L <its id>`). A client
is pinned to one member through the MASTER; that member is then drained (weight 0: no new
clients, pinned ones stay), so that a haproxy that had not learnt the client would send it
to the other member. A listener change reloads both amphorae (the tables pass from the old
worker to the new one), then kill -9 of the whole MASTER, and the client still reaches its
member through the BACKUP.
"""

from __future__ import annotations

import os
import time
from typing import Any

from sqlalchemy import select

from ostia.amphora.haproxy_process import parse_show_proc
from ostia.amphora.haproxy_socket import HaproxySocketError, send_command
from ostia.common import constants as c
from ostia.common import iproute
from ostia.db import models
from ostia.drivers.compute.netns_driver import vip_namespace
from tests.support.health_stack import wait_until
from tests.support.netns_stack import (
    NetnsWorkerStack,
    kill_amphora,
    leftovers,
    netns_health_manager,
    netns_worker_stack,
)
from tests.support.objects import check

SUBNET = "tenant-a-subnet"
VIP = "198.18.64.10"
CLIENT = "198.18.64.100"
MEMBERS = {"198.18.64.101": "b1", "198.18.64.102": "b2"}
OVERRIDES = {
    "keepalived_vrrp": {"vrrp_advert_int": 0.1, "vrrp_check_interval": 1},
    "controller_worker": {"loadbalancer_topology": c.TOPOLOGY_ACTIVE_STANDBY},
}


def _amphorae(stack: NetnsWorkerStack, lb_id: str) -> dict[str, tuple[str, str]]:
    """Role -> (amphora id, compute id) of the load balancer's amphorae."""
    with stack.db.transaction() as session:
        rows = session.scalars(
            select(models.Amphora).where(
                models.Amphora.load_balancer_id == lb_id, models.Amphora.status != c.DELETED
            )
        )
        return {str(row.role): (row.id, str(row.compute_id)) for row in rows}


def _holds_vip(compute_id: str) -> bool:
    for link in iproute.ip_json("addr", "show", netns=vip_namespace(compute_id)):
        if any(info.get("local") == VIP for info in link.get("addr_info", [])):
            return True
    return False


def _stick_table(stack: NetnsWorkerStack, compute_id: str, lb_id: str, backend: str) -> str:
    """`show table <backend>` on an amphora's haproxy ("" while it does not answer)."""
    base_path = stack.netns.netns_compute.instance_files(compute_id).base_path
    try:
        return send_command(os.path.join(base_path, f"{lb_id}.sock"), f"show table {backend}")
    except HaproxySocketError:
        return ""


def _reloads(stack: NetnsWorkerStack, compute_id: str, lb_id: str) -> int:
    """How many times the amphora's haproxy master has reloaded."""
    base_path = stack.netns.netns_compute.instance_files(compute_id).base_path
    status = parse_show_proc(send_command(os.path.join(base_path, lb_id, "cli"), "show proc"))
    assert status is not None
    return status.reloads


def _create(http: Any) -> dict[str, Any]:
    pool = {
        "name": "pool",
        "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN",
        "session_persistence": {"type": "SOURCE_IP"},
        "members": [{"address": address, "protocol_port": 80} for address in MEMBERS],
    }
    body = {
        "vip_subnet_id": SUBNET,
        "vip_address": VIP,
        "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": pool}],
    }
    return check(http.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body}), 201)["loadbalancer"]


def _pinned_then_drained(stack: NetnsWorkerStack, http: Any, client: Any, pool: str) -> str:
    """Pin the client to a member (the one it reaches), then drain that member: from now on
    only a table that knows the client sends it there. Returns the member's name."""
    answers = {client.get(VIP, 80)[1] for _ in range(4)}
    assert len(answers) == 1, answers
    pinned = answers.pop()
    members = check(http.get(f"/v2/lbaas/pools/{pool}/members"), 200)["members"]
    drained = next(m["id"] for m in members if MEMBERS[m["address"]] == pinned)
    check(http.put(f"/v2/lbaas/pools/{pool}/members/{drained}", json={"member": {"weight": 0}}), 200)
    return pinned


def _kill_and_take_over(dead: str, survivor: str) -> None:
    killed_at = time.monotonic()
    kill_amphora(dead)
    wait_until(lambda: _holds_vip(survivor), 10, "the VIP on the surviving amphora")
    print(f"VIP taken over {time.monotonic() - killed_at:.2f} s after kill -9 of the MASTER")


def test_source_ip_persistence_survives_a_reload_and_two_master_failures() -> None:
    with netns_worker_stack(OVERRIDES) as stack, netns_health_manager(stack), stack.api.client() as http:
        client = stack.host("client", SUBNET, CLIENT)
        for address, name in MEMBERS.items():
            stack.backend(name, SUBNET, address)
        lb = stack.wait_lb(http, _create(http)["id"], timeout=90)
        listener = lb["listeners"][0]["id"]
        pool = check(http.get(f"/v2/lbaas/listeners/{listener}"), 200)["listener"]["default_pool_id"]
        backend = f"{pool}:{listener}"
        amphorae = _amphorae(stack, lb["id"])
        master, backup = amphorae[c.ROLE_MASTER][1], amphorae[c.ROLE_BACKUP][1]
        wait_until(lambda: _holds_vip(master), 10, "the VIP on the MASTER")

        pinned = _pinned_then_drained(stack, http, client, pool)
        stack.wait_lb(http, lb["id"], timeout=30)
        # The weight went through the runtime API (haproxy_runtime): no reload yet.
        assert [_reloads(stack, compute, lb["id"]) for compute in (master, backup)] == [0, 0]
        # The MASTER pushed the client's entry to the BACKUP over the peers connection.
        wait_until(
            lambda: f"key=::ffff:{CLIENT} " in _stick_table(stack, backup, lb["id"], backend),
            10,
            "the client's entry in the BACKUP's table",
        )
        assert client.get(VIP, 80)[1] == pinned

        # A listener change reloads both haproxy seconds after their start, before their
        # peers have resynced: the agent waits for that (haproxy_peers_state), then the old
        # worker hands its table to the new one through the local peer (same -L).
        update = {"listener": {"timeout_client_data": 40000}}
        asked_at = time.monotonic()
        check(http.put(f"/v2/lbaas/listeners/{listener}", json=update), 200)
        stack.wait_lb(http, lb["id"], timeout=30)
        print(f"listener update with a pinned client applied in {time.monotonic() - asked_at:.1f} s")
        assert [_reloads(stack, compute, lb["id"]) for compute in (master, backup)] == [1, 1]
        assert [client.get(VIP, 80)[1] for _ in range(4)] == [pinned] * 4

        _kill_and_take_over(master, backup)
        after = [client.get(VIP, 80)[1] for _ in range(4)]
        assert after == [pinned] * 4, (pinned, after)

        # The health manager replaces the dead amphora; the replacement learns the table
        # from the survivor (a full resync) and keeps the client pinned when the survivor
        # dies in turn.
        rebuilt_from = time.monotonic()
        wait_until(
            lambda: (
                len(found := _amphorae(stack, lb["id"])) == 2
                and master not in {compute for _, compute in found.values()}
            ),
            60,
            "a replacement",
        )
        stack.wait_lb(http, lb["id"], timeout=60)
        amphorae = _amphorae(stack, lb["id"])
        assert amphorae[c.ROLE_MASTER][1] == backup
        replacement = amphorae[c.ROLE_BACKUP][1]
        wait_until(
            lambda: f"key=::ffff:{CLIENT} " in _stick_table(stack, replacement, lb["id"], backend),
            15,
            "the client's entry in the replacement's table",
        )
        print(f"replacement built and taught the table {time.monotonic() - rebuilt_from:.1f} s after")
        _kill_and_take_over(backup, replacement)
        after = [client.get(VIP, 80)[1] for _ in range(4)]
        assert after == [pinned] * 4, (pinned, after)

        compute_ids = [master, backup, replacement]
        check(http.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true"), 204)
        stack.wait_lb(http, lb["id"], c.DELETED, timeout=60)
        bridges = stack.netns.netns_network.bridges()
        assert leftovers(stack.netns.tag, compute_ids, stack.netns.mgmt_bridge, bridges) == []
