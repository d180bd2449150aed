"""ACTIVE_STANDBY on namespace amphorae (root): keepalived VRRP between two amphorae.

kill -9 of everything the MASTER runs (agent, haproxy, keepalived: a dead VM) moves the VIP
to the BACKUP within a VRRPv3 sub-second takeover, measured by a client namespace sending a
request every 20 ms; the health manager then replaces the dead amphora as the new BACKUP
while the VIP stays where it is, and the dead one's namespaces (with the VIP a killed
keepalived left on them) are gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Any

import pytest
from sqlalchemy import select

from ostia.common import constants as c
from ostia.common import iproute
from ostia.db import models
from ostia.drivers.compute.netns_driver import amp_namespace, vip_namespace
from tests.support.health_stack import wait_until
from tests.support.netns_stack import (
    NamespaceHost,
    NetnsWorkerStack,
    RequestLoop,
    kill_amphora,
    leftovers,
    netns_health_manager,
    netns_worker_stack,
    serving_pair,
    vip_holders,
)
from tests.support.objects import check

SUBNET = "tenant-a-subnet"
VIP = "198.18.64.10"
GAP_GOAL = 0.5
VRRP = {
    "vrrp_advert_int": 0.1,
    "vrrp_check_interval": 1,
    "vrrp_fail_count": 2,
    "vrrp_success_count": 2,
    "vrrp_garp_refresh_interval": 5,
}


def _vip_holders(stack: NetnsWorkerStack) -> list[str]:
    return [instance.amphora_id for instance in vip_holders(stack, VIP)]


def _roles(stack: NetnsWorkerStack, lb_id: str) -> dict[str, str]:
    with stack.db.transaction() as session:
        rows = session.scalars(
            select(models.Amphora).where(
                models.Amphora.load_balancer_id == lb_id, models.Amphora.status != c.DELETED
            )
        )
        return {row.id: str(row.role) for row in rows}


def _serving_pair(stack: NetnsWorkerStack, http: Any) -> tuple[NamespaceHost, dict[str, Any]]:
    """A client, two members and an ACTIVE_STANDBY load balancer serving them."""
    pair = serving_pair(stack, http, SUBNET, VIP)
    print(f"ACTIVE_STANDBY LB ACTIVE after {pair.seconds_to_active:.2f} s")
    return pair.client, pair.lb


def _delete_leaving_nothing(stack: NetnsWorkerStack, http: Any, lb_id: str, compute_ids: list[str]) -> None:
    """Cascade-delete the load balancer; nothing of these amphorae may be left."""
    check(http.delete(f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true"), 204)
    stack.wait_lb(http, lb_id, c.DELETED)
    bridges = stack.netns.netns_network.bridges()
    assert leftovers(stack.netns.tag, compute_ids, stack.netns.mgmt_bridge, bridges) == []


OVERRIDES = {
    "keepalived_vrrp": VRRP,
    "controller_worker": {"loadbalancer_topology": c.TOPOLOGY_ACTIVE_STANDBY},
}


def test_kill_9_of_the_master_moves_the_vip_and_the_amphora_is_rebuilt_as_backup() -> None:
    with netns_worker_stack(OVERRIDES) as stack, netns_health_manager(stack), stack.api.client() as http:
        client, lb = _serving_pair(stack, http)
        roles = _roles(stack, lb["id"])
        assert sorted(roles.values()) == [c.ROLE_BACKUP, c.ROLE_MASTER]
        master = next(a for a, role in roles.items() if role == c.ROLE_MASTER)
        backup = next(a for a, role in roles.items() if role == c.ROLE_BACKUP)
        wait_until(lambda: _vip_holders(stack) == [master], 10, "the VIP on the MASTER")
        assert {client.get(VIP, 80)[1] for _ in range(4)} == {"b1", "b2"}

        instances = {i.amphora_id: i for i in stack.amphorae.compute.list_instances()}
        dead = instances[master].compute_id
        with RequestLoop(client.namespace, VIP, 80, interval=0.02, duration=40) as loop:
            time.sleep(1.0)
            killed_at = time.monotonic()
            kill_amphora(dead)
            # The health manager notices the silence and rebuilds the dead amphora.
            wait_until(
                lambda: len(_roles(stack, lb["id"])) == 2 and master not in _roles(stack, lb["id"]),
                40,
                "a replacement",
            )
            stack.wait_lb(http, lb["id"], timeout=60)
            rebuilt_at = time.monotonic()
            time.sleep(1.0)
        # The longest time without a successful request, from the last success before the
        # kill to the end: the takeover, and any second interruption during the rebuild.
        gap = loop.longest_gap(killed_at)
        failed = [(round(t - killed_at, 2), why) for t, ok, why in loop.results if not ok and t > killed_at]
        print(
            f"VRRP takeover gap after kill -9 of the MASTER: {gap:.3f} s "
            f"(failed requests at {failed} s; rebuilt after {rebuilt_at - killed_at:.1f} s)"
        )
        # The gap covers the rebuild too: a second interruption would show as a longer one.
        assert gap <= GAP_GOAL, gap
        roles = _roles(stack, lb["id"])
        assert roles[backup] == c.ROLE_MASTER
        assert sorted(roles.values()) == [c.ROLE_BACKUP, c.ROLE_MASTER]
        assert _vip_holders(stack) == [backup]
        assert not iproute.netns_exists(vip_namespace(dead))
        assert rebuilt_at > killed_at

        compute_ids = [i.compute_id for i in stack.amphorae.compute.list_instances()] + [dead]
        _delete_leaving_nothing(stack, http, lb["id"], compute_ids)


def _programs(compute_id: str, program: str) -> list[int]:
    """Pids of `program` (haproxy, keepalived) among an amphora's processes."""
    found = []
    for namespace in (amp_namespace(compute_id), vip_namespace(compute_id)):
        for pid in iproute.netns_pids(namespace):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/comm") as handle:
                if handle.read().strip() == program:
                    found.append(pid)
    return found


# kill -9 of keepalived alone: the BACKUP hears no advert and takes over (sub-second, as for
# a dead amphora), and the old MASTER's agent removes the VIP the killed keepalived could not
# remove, so that only the BACKUP answers ARP for it; as upstream, that agent then sends no
# heartbeat, and the health manager replaces the amphora as the new BACKUP without a second
# interruption. kill -9 of haproxy alone: whichever
# comes first, the agent restarting haproxy or the check script failing `vrrp_fail_count`
# times and the VIP moving, ends the interruption; both are bounded by the check interval
# times the fail count.
VIP_RELEASE_BOUND = 2.0


@pytest.mark.parametrize(("program", "bound"), [("keepalived", GAP_GOAL), ("haproxy", 2.5)])
def test_kill_9_of_the_masters_haproxy_or_keepalived_keeps_the_vip_served(program: str, bound: float) -> None:
    with netns_worker_stack(OVERRIDES) as stack, contextlib.ExitStack() as health, stack.api.client() as http:
        if program == "keepalived":
            health.enter_context(netns_health_manager(stack))
        client, lb = _serving_pair(stack, http)
        roles = _roles(stack, lb["id"])
        master = next(a for a, role in roles.items() if role == c.ROLE_MASTER)
        backup = next(a for a, role in roles.items() if role == c.ROLE_BACKUP)
        wait_until(lambda: _vip_holders(stack) == [master], 10, "the VIP on the MASTER")
        instances = {i.amphora_id: i for i in stack.amphorae.compute.list_instances()}
        pids = _programs(instances[master].compute_id, program)
        assert pids, f"no {program} runs in the MASTER"
        released = None
        with RequestLoop(client.namespace, VIP, 80, interval=0.02, duration=60, timeout=0.15) as loop:
            time.sleep(0.5)
            killed_at = time.monotonic()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if program == "keepalived":
                # The BACKUP heard no advert and took the VIP over; the old MASTER's VIP
                # namespace no longer holds it (no duplicate VIP on the tenant bridge).
                wait_until(
                    lambda: _vip_holders(stack) == [backup],
                    VIP_RELEASE_BOUND,
                    "the VIP on the BACKUP only",
                    interval=0.01,
                )
                released = time.monotonic() - killed_at
                # No heartbeat from an amphora whose keepalived died: it is replaced.
                wait_until(
                    lambda: len(_roles(stack, lb["id"])) == 2 and master not in _roles(stack, lb["id"]),
                    40,
                    "a replacement of the amphora whose keepalived died",
                )
                stack.wait_lb(http, lb["id"], timeout=60)
                print(f"replaced {time.monotonic() - killed_at:.1f} s after the kill")
                time.sleep(1.0)
            else:
                time.sleep(6.0 - (time.monotonic() - killed_at))
        gap = loop.longest_gap(killed_at)
        holders = _vip_holders(stack)
        failed = [(round(t - killed_at, 2), why) for t, ok, why in loop.results if not ok and t > killed_at]
        print(
            f"kill -9 of the MASTER's {program}: longest gap {gap:.3f} s, VIP on {holders}, failed {failed}"
            + (f", only on the BACKUP {released:.3f} s after the kill" if released is not None else "")
        )
        assert gap <= bound, gap
        if program == "keepalived":
            # The old MASTER's haproxy served the VIP until the BACKUP had taken it over, and
            # only then did its agent remove it. One request may still fail: a connection
            # opened to the old MASTER just before the BACKUP's gratuitous ARP sends its next
            # packets to the BACKUP, which resets it (VRRP's own takeover; 1 run in 15 here).
            assert len(failed) <= 1, failed
            assert holders == [backup], holders
            roles = _roles(stack, lb["id"])
            assert roles[backup] == c.ROLE_MASTER, roles
            assert sorted(roles.values()) == [c.ROLE_BACKUP, c.ROLE_MASTER]
            assert not iproute.netns_exists(vip_namespace(instances[master].compute_id))
            # The client's ARP, asked afresh, finds the BACKUP alone.
            iproute.ip("neigh", "flush", "all", netns=client.namespace)
        assert {client.get(VIP, 80)[1] for _ in range(4)} == {"b1", "b2"}
        compute_ids = [i.compute_id for i in stack.amphorae.compute.list_instances()]
        compute_ids += [i.compute_id for i in instances.values() if i.compute_id not in compute_ids]
        _delete_leaving_nothing(stack, http, lb["id"], compute_ids)


def test_load_balancer_failover_replaces_both_amphorae_one_at_a_time() -> None:
    with netns_worker_stack(OVERRIDES) as stack, stack.api.client() as http:
        client, lb = _serving_pair(stack, http)
        amphorae = check(http.get("/v2/octavia/amphorae", params={"loadbalancer_id": lb["id"]}), 200)[
            "amphorae"
        ]
        assert sorted((a["role"], a["vrrp_priority"], a["vrrp_interface"], a["ha_ip"]) for a in amphorae) == [
            (c.ROLE_BACKUP, 90, "eth1", VIP),
            (c.ROLE_MASTER, 100, "eth1", VIP),
        ]
        assert all(a["vrrp_ip"].startswith("198.18.64.") and a["vrrp_ip"] != VIP for a in amphorae)
        before = set(_roles(stack, lb["id"]))
        old_ids = [i.compute_id for i in stack.amphorae.compute.list_instances()]
        # A request sent to the old MASTER's MAC just as it gives the VIP up is lost: a
        # short client timeout keeps that one request from hiding how long the gap is.
        with RequestLoop(client.namespace, VIP, 80, interval=0.02, duration=60, timeout=0.15) as loop:
            time.sleep(0.5)
            asked_at = time.monotonic()
            check(http.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover"), 202)
            wait_until(lambda: not set(_roles(stack, lb["id"])) & before, 60, "both amphorae replaced")
            stack.wait_lb(http, lb["id"], timeout=60)
            done_at = time.monotonic()
            time.sleep(1.0)
        gap = loop.longest_gap(asked_at)
        failed = [round(t - asked_at, 2) for t, ok, _ in loop.results if not ok and t > asked_at]
        print(
            f"LB failover of an ACTIVE_STANDBY pair: longest gap {gap:.3f} s over "
            f"{done_at - asked_at:.1f} s (failed requests at {failed} s)"
        )
        if gap > GAP_GOAL:
            for instance in stack.amphorae.compute.list_instances():
                path = os.path.join(
                    stack.netns.netns_compute.instance_files(instance.compute_id).base_path,
                    "vrrp",
                    "keepalived.log",
                )
                with open(path) as handle:
                    print(instance.compute_id, handle.read()[-2500:])
            print("asked at", time.time() - (time.monotonic() - asked_at))
        assert gap <= GAP_GOAL, gap
        assert sorted(_roles(stack, lb["id"]).values()) == [c.ROLE_BACKUP, c.ROLE_MASTER]
        assert len(_vip_holders(stack)) == 1
        assert {client.get(VIP, 80)[1] for _ in range(4)} == {"b1", "b2"}
        for compute_id in old_ids:
            assert not iproute.netns_exists(vip_namespace(compute_id))
        compute_ids = [i.compute_id for i in stack.amphorae.compute.list_instances()]
        _delete_leaving_nothing(stack, http, lb["id"], compute_ids + old_ids)
