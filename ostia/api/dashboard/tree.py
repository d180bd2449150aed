"""The load-balancer tree the dashboard shows, built from the v2 API's list answers.

Load balancer → listeners → default pool → members and health monitor; pools that are
no listener's default (L7 targets, pools not yet attached) hang off the load balancer.
Each node carries the reason it is in ERROR when there is one to give: the API's
`provisioning_status_reason` (the worker's record, as much of it as a tenant may read) or,
for an operating ERROR, what the health data means.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ostia.common import constants as c

Item = dict[str, Any]


@dataclasses.dataclass
class Node:
    kind: str  # loadbalancer | listener | pool | member | healthmonitor
    item: Item
    children: list[Node] = dataclasses.field(default_factory=list)
    reason: str | None = None
    # The pool a member belongs to (its actions address /pools/{pool_id}/members/{id}).
    pool_id: str | None = None
    stats: Item | None = None

    @property
    def in_error(self) -> bool:
        return c.ERROR in (self.item.get("provisioning_status"), self.item.get("operating_status"))


def build_tree(
    lbs: list[Item],
    listeners: list[Item],
    pools: list[Item],
    monitors: list[Item],
    members_by_pool: Mapping[str, list[Item]],
    stats_by_lb: Mapping[str, Item],
) -> list[Node]:
    """One Node per load balancer, sorted by name, with everything under it."""
    monitors_by_id = {m["id"]: m for m in monitors}
    listeners_by_lb: dict[str, list[Item]] = {}
    for listener in listeners:
        for owner in listener.get("loadbalancers") or []:
            listeners_by_lb.setdefault(owner["id"], []).append(listener)
    pools_by_lb: dict[str, list[Item]] = {}
    for pool in pools:
        for owner in pool.get("loadbalancers") or []:
            pools_by_lb.setdefault(owner["id"], []).append(pool)

    def pool_node(pool: Item) -> Node:
        node = Node("pool", pool, reason=_reason("pool", pool))
        monitor = monitors_by_id.get(pool.get("healthmonitor_id") or "")
        if monitor is not None:
            node.children.append(Node("healthmonitor", monitor, reason=_reason("healthmonitor", monitor)))
        for member in sorted(members_by_pool.get(pool["id"], []), key=_member_key):
            node.children.append(
                Node("member", member, pool_id=pool["id"], reason=_member_reason(member, monitor))
            )
        return node

    tree = []
    for lb in sorted(lbs, key=lambda i: (i.get("name") or "", i["id"])):
        lb_node = Node(
            "loadbalancer", lb, stats=stats_by_lb.get(lb["id"]), reason=_reason("loadbalancer", lb)
        )
        default_pools: set[str] = set()
        own_pools = {p["id"]: p for p in pools_by_lb.get(lb["id"], [])}
        for listener in sorted(
            listeners_by_lb.get(lb["id"], []), key=lambda i: (i.get("protocol_port") or 0, i["id"])
        ):
            listener_node = Node("listener", listener, reason=_reason("listener", listener))
            default = own_pools.get(listener.get("default_pool_id") or "")
            if default is not None:
                default_pools.add(default["id"])
                listener_node.children.append(pool_node(default))
            lb_node.children.append(listener_node)
        for pool_id, pool in own_pools.items():
            if pool_id not in default_pools:
                lb_node.children.append(pool_node(pool))
        tree.append(lb_node)
    return tree


def _member_key(member: Item) -> tuple[str, int, str]:
    return (member.get("address") or "", member.get("protocol_port") or 0, member["id"])


def _reason(kind: str, item: Item) -> str | None:
    recorded = item.get("provisioning_status_reason")
    if item.get("provisioning_status") == c.ERROR:
        return recorded or "provisioning failed; the operator's log has the details"
    if recorded and kind == "loadbalancer":
        # The worker keeps retrying a load balancer whose last attempt failed.
        return f"last attempt failed, retrying: {recorded}"
    if item.get("operating_status") == c.ERROR:
        return {
            "loadbalancer": "no amphora reports this load balancer as up",
            "listener": "the amphora reports this listener down",
            "pool": "every member of this pool is down",
        }.get(kind, "reported down by the amphora")
    return None


def _member_reason(member: Item, monitor: Item | None) -> str | None:
    if member.get("operating_status") == c.ERROR and member.get("provisioning_status") != c.ERROR:
        if monitor is None:
            return "the amphora reports this member down"
        check = monitor.get("type") or "health"
        return (
            f"fails its {check} health check (checked every {monitor.get('delay')} s, "
            f"marked down after {monitor.get('max_retries_down')} failed in a row)"
        )
    return _reason("member", member)
