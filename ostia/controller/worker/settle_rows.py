"""A reconcile's settle on rows, when its snapshot has nothing to remove.

`lifecycle.settle_load_balancer` walks the graph as ORM objects, loaded afresh in the
settle's transaction one relationship at a time (4-5 ms of CPU for a small graph), and the
reconciler locked the load balancer's row with a SELECT before it. When the load balancer
and no object under it is PENDING_DELETE (a create, an update, a member added or changed)
settling only moves statuses, so it is a few UPDATEs: the load balancer's first, which
also proves the lease is still ours (no row: LeaseLost) and locks the row, then one per
kind of child the snapshot holds. The graph cannot change under a held lease (every API
write needs the load balancer ACTIVE or ERROR), so the snapshot's statuses are the rows'
and say which transitions to log. Anything with a deletion goes through the ORM as before.
The result must stay what `settle_load_balancer` makes (a test compares them).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ostia.common import constants as c
from ostia.controller.worker.leases import LeaseLost
from ostia.db import lifecycle, models

LB, L, POLICY, RULE = models.LoadBalancer, models.Listener, models.L7Policy, models.L7Rule
P, HM, M, AMP = models.Pool, models.HealthMonitor, models.Member, models.Amphora
SETTLED = (c.PENDING_CREATE, c.PENDING_UPDATE, c.ERROR)  # -> ACTIVE, as lifecycle settles
BUILT = (c.PENDING_CREATE, c.AMPHORA_BOOTING)  # serving amphorae -> ALLOCATED

_LB_SETTLE = (
    sa.update(LB)
    .where(LB.id == sa.bindparam("lb_id"), LB.lease_owner == sa.bindparam("owner"))
    .values(
        provisioning_status=c.ACTIVE,
        reconcile_attempts=0,
        last_error=None,
        lease_owner=None,
        lease_expires=None,
    )
)
_LISTENERS = sa.select(L.id).where(L.load_balancer_id == sa.bindparam("lb_id"))
_POOLS = sa.select(P.id).where(P.load_balancer_id == sa.bindparam("lb_id"))
_POLICIES = sa.select(POLICY.id).where(POLICY.listener_id.in_(_LISTENERS))
_MONITOR_HEALTH = sa.case((HM.enabled, c.ONLINE), else_=c.OFFLINE)


def _activate(model: Any, parent: Any) -> Any:
    return (
        sa.update(model)
        .where(parent, model.provisioning_status.in_(SETTLED))
        .values(provisioning_status=c.ACTIVE)
    )


_CHILDREN = {
    "listener": _activate(L, L.load_balancer_id == sa.bindparam("lb_id")),
    "l7policy": _activate(POLICY, POLICY.listener_id.in_(_LISTENERS)),
    "l7rule": _activate(RULE, RULE.l7policy_id.in_(_POLICIES)),
    "pool": _activate(P, P.load_balancer_id == sa.bindparam("lb_id")),
    "member": _activate(M, M.pool_id.in_(_POOLS)),
    # A monitor has no health of its own: ONLINE while enabled, OFFLINE when disabled,
    # written only where it differs (an unchanged row keeps its updated_at, as the ORM's).
    "health monitor": sa.update(HM)
    .where(
        HM.pool_id.in_(_POOLS),
        sa.or_(HM.provisioning_status.in_(SETTLED), HM.operating_status != _MONITOR_HEALTH),
    )
    .values(
        provisioning_status=sa.case(
            (HM.provisioning_status.in_(SETTLED), c.ACTIVE), else_=HM.provisioning_status
        ),
        operating_status=_MONITOR_HEALTH,
    ),
}
_AMPHORAE = (
    sa.update(AMP)
    .where(AMP.id.in_(sa.bindparam("ids", expanding=True)), AMP.status.in_(BUILT))
    .values(status=c.AMPHORA_ALLOCATED)
)


def _graph(lb: models.LoadBalancer) -> Iterator[tuple[str, Any]]:
    """(kind, object) of every object under `lb`, in settle_load_balancer's order."""
    for listener in lb.listeners:
        yield "listener", listener
        for policy in listener.l7policies:
            yield "l7policy", policy
            for rule in policy.rules:
                yield "l7rule", rule
    for pool in lb.pools:
        yield "pool", pool
        if pool.health_monitor is not None:
            yield "health monitor", pool.health_monitor
        for member in pool.members:
            yield "member", member


def applies(lb: models.LoadBalancer) -> bool:
    """True when settling `lb` (a snapshot's graph) removes nothing."""
    if lb.provisioning_status not in (c.PENDING_CREATE, c.PENDING_UPDATE):
        return False
    return all(obj.provisioning_status != c.PENDING_DELETE for _, obj in _graph(lb))


def settle(
    session: Session, lb: models.LoadBalancer, owner: str, serving: Sequence[str]
) -> list[lifecycle.Transition]:
    """Settle `lb` (a snapshot's graph for which `applies`), release the lease of `owner`
    and mark the `serving` amphorae ALLOCATED; the transitions, load balancer last.
    LeaseLost, and nothing written, when `owner` no longer holds the lease."""
    connection = session.connection()
    if not connection.execute(_LB_SETTLE, {"lb_id": lb.id, "owner": owner}).rowcount:
        raise LeaseLost(lb.id)
    transitions: list[lifecycle.Transition] = []
    kinds: set[str] = set()
    for kind, obj in _graph(lb):
        kinds.add(kind)
        if obj.provisioning_status in SETTLED:
            transitions.append(lifecycle.Transition(kind, obj.id, obj.provisioning_status, c.ACTIVE))
    for kind in _needed(kinds, transitions):
        connection.execute(_CHILDREN[kind], {"lb_id": lb.id})
    if serving:
        connection.execute(_AMPHORAE, {"ids": list(serving)})
    transitions.append(lifecycle.Transition("load balancer", lb.id, lb.provisioning_status, c.ACTIVE))
    return transitions


def _needed(kinds: set[str], transitions: list[lifecycle.Transition]) -> list[str]:
    """The kinds whose UPDATE changes a row: those with a transition, and monitors always
    (their operating status follows `enabled`, whatever their provisioning status)."""
    moved = {change.kind for change in transitions}
    return [kind for kind in _CHILDREN if kind in moved or (kind == "health monitor" and kind in kinds)]
