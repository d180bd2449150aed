"""The spare amphora pool on namespace amphorae (root): a spare is built, a new load
balancer takes it and serves through its VIP, the pool refills, a dead spare is replaced,
and nothing of a deleted amphora is left (namespace, veth, port, process)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from ostia.common import constants as c
from ostia.controller.housekeeping.service import HousekeepingService
from ostia.controller.worker.spares import ready_spares
from ostia.db import models
from tests.support.health_stack import wait_until
from tests.support.netns_stack import (
    NetnsWorkerStack,
    http_lb_body,
    kill_amphora,
    leftovers,
    netns_worker_stack,
)
from tests.support.objects import check, create_lb

SUBNET = "tenant-a-subnet"
VIP = "198.18.64.20"


def _compute_id(stack: NetnsWorkerStack, amphora_id: str) -> str:
    with stack.db.transaction() as session:
        row = session.get(models.Amphora, amphora_id)
        assert row is not None and row.compute_id
        return str(row.compute_id)


@pytest.mark.parametrize("topology", [c.TOPOLOGY_SINGLE, c.TOPOLOGY_ACTIVE_STANDBY])
def test_pool_of_one_gives_a_new_lb_a_namespace_spare_that_serves_and_refills(topology: str) -> None:
    overrides: dict[str, dict[str, Any]] = {
        "house_keeping": {"spare_amphora_pool_size": 1, "spare_check_interval": 1},
        "controller_worker": {"loadbalancer_topology": topology},
        "keepalived_vrrp": {"vrrp_advert_int": 0.1, "vrrp_check_interval": 1},
    }
    with netns_worker_stack(overrides) as stack, stack.api.client() as http:
        client = stack.host("client", SUBNET, "198.18.64.100")
        stack.backend("b1", SUBNET, "198.18.64.101")
        compute = stack.amphorae.compute
        housekeeper = HousekeepingService(stack.conf, stack.db, stack.drivers)
        housekeeper.start()
        seen: list[str] = []
        try:
            (spare,) = wait_until(lambda: ready_spares(stack.db), 60, "a spare")
            seen.append(_compute_id(stack, spare))
            started = time.monotonic()
            lb = create_lb(http, **http_lb_body(SUBNET, VIP, ["198.18.64.101"]))
            stack.wait_lb(http, lb["id"], timeout=60)
            print(f"LB on a namespace spare ACTIVE after {time.monotonic() - started:.2f} s")
            with stack.db.transaction() as session:
                rows = session.query(models.Amphora).filter_by(load_balancer_id=lb["id"]).all()
                lb_amphorae = {row.id: (row.status, row.role) for row in rows}
            # The spare is the (first) amphora; ACTIVE_STANDBY builds its peer.
            assert lb_amphorae[spare][0] == c.AMPHORA_ALLOCATED, lb_amphorae
            assert len(lb_amphorae) == (2 if topology == c.TOPOLOGY_ACTIVE_STANDBY else 1)
            assert client.get(VIP, 80) == (200, "b1")

            (refilled,) = wait_until(
                lambda: [s for s in ready_spares(stack.db) if s != spare], 60, "the pool refilled"
            )
            seen.append(_compute_id(stack, refilled))
            assert len(compute.list_instances()) == len(lb_amphorae) + 1

            # A spare whose amphora died is deleted (namespaces and all) and replaced.
            kill_amphora(seen[-1])
            (replacement,) = wait_until(
                lambda: [s for s in ready_spares(stack.db) if s not in (spare, refilled)],
                60,
                "the dead spare replaced",
            )
            replacement_id = _compute_id(stack, replacement)
            seen.append(replacement_id)
            assert leftovers(stack.netns.tag, [seen[1]], stack.netns.mgmt_bridge) == []

            lb_compute_ids = [_compute_id(stack, amphora_id) for amphora_id in lb_amphorae]
            seen += [compute_id for compute_id in lb_compute_ids if compute_id not in seen]
            check(http.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true"), 204)
            stack.wait_lb(http, lb["id"], c.DELETED)
            assert leftovers(stack.netns.tag, lb_compute_ids, stack.netns.mgmt_bridge) == []
            assert [i.compute_id for i in compute.list_instances()] == [replacement_id]
        finally:
            housekeeper.stop(timeout=30)  # let a spare being built finish: no leak
        tag, mgmt_bridge, bridges = (
            stack.netns.tag,
            stack.netns.mgmt_bridge,
            stack.netns.netns_network.bridges(),
        )
    # The stack deleted the last spare: nothing of any amphora is left.
    assert leftovers(tag, seen, mgmt_bridge, bridges) == []
