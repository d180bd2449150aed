"""Read one load balancer's stored graph in one short transaction, for use after it closes.

The worker never holds a transaction while it talks to drivers: it reads a snapshot here,
closes the session, and works on detached objects. Every relationship the renderer and the
steps follow is loaded up front (a lazy load on a detached object would fail). Tags are
left out: nothing the worker does reads them, and loading them took a third of the queries.
The read is a reader's transaction: it neither waits for nor holds up the API's writes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload, noload, selectinload

from ostia.common import constants as c
from ostia.db import models
from ostia.db.session import Database

LB = models.LoadBalancer


@dataclasses.dataclass(frozen=True)
class AmphoraState:
    """An amphora row as the reconciler last read it."""

    id: str
    status: str
    compute_id: str | None
    lb_network_ip: str | None
    role: str | None
    load_balancer_id: str | None

    @classmethod
    def of(cls, row: models.Amphora) -> AmphoraState:
        return cls(
            id=row.id,
            status=row.status,
            compute_id=row.compute_id,
            lb_network_ip=row.lb_network_ip,
            role=row.role,
            load_balancer_id=row.load_balancer_id,
        )


@dataclasses.dataclass(frozen=True)
class Snapshot:
    lb: models.LoadBalancer
    amphorae: tuple[AmphoraState, ...]
    attempt: int

    @property
    def status(self) -> str:
        return self.lb.provisioning_status


def _options() -> list:
    listener = selectinload(LB.listeners)
    pool = selectinload(LB.pools)
    policies = listener.joinedload(models.Listener.l7policies)
    rules = policies.selectinload(models.L7Policy.rules)
    # A listener's default pool and a policy's redirect pool are pools of this load
    # balancer, loaded with LB.pools: _touch finds them in the session, with no query.
    paths: list[tuple[Any, type[models.TaggedMixin]]] = [
        (rules, models.L7Rule),
        (pool.selectinload(models.Pool.members), models.Member),
        (pool.joinedload(models.Pool.health_monitor), models.HealthMonitor),
        (listener, models.Listener),
        (pool, models.Pool),
        (policies, models.L7Policy),
    ]
    return [
        joinedload(LB.additional_vips),
        # Nothing the worker does goes from a pool to the listeners or policies that use it
        # (the renderer starts from the listeners): a use would raise, not find nothing.
        pool.raiseload(models.Pool.listeners),
        pool.raiseload(models.Pool.l7policies),
        # Each path to a tagged class leaves its tags out (an option covers its own path only).
        noload(LB._tags),
        *(path.noload(model._tags) for path, model in paths),
    ]


def _touch(lb: models.LoadBalancer) -> None:
    """Load whatever the options missed (cheap when everything is loaded already)."""
    _ = lb.vip, lb.additional_vips
    for listener in lb.listeners:
        _ = listener.default_pool
        for policy in listener.l7policies:
            _ = policy.redirect_pool, policy.rules
    for pool in lb.pools:
        _ = pool.health_monitor, pool.session_persistence, pool.members


# Built once: a statement object keeps its cache key, which SQLAlchemy otherwise derives
# from the statement and its eleven loader options at every read (a fifth of its CPU).
_GRAPH = select(LB).where(LB.id == bindparam("lb_id")).options(*_options())
_LIVE_AMPHORAE = (
    select(models.Amphora)
    .where(models.Amphora.load_balancer_id == bindparam("lb_id"), models.Amphora.status != c.DELETED)
    .order_by(models.Amphora.created_at, models.Amphora.id)
)


def live_amphorae(session: Session, lb_id: str) -> list[models.Amphora]:
    return list(session.scalars(_LIVE_AMPHORAE, {"lb_id": lb_id}))


def read_snapshot(db: Database, lb_id: str) -> Snapshot | None:
    """The LB's graph and its amphorae that are not DELETED, or None if the LB is gone."""
    with db.read_only().transaction() as session:
        # unique(): the VIP's additional addresses come joined to the load balancer's row.
        lb = session.scalars(_GRAPH, {"lb_id": lb_id}).unique().first()
        if lb is None:
            return None
        _touch(lb)
        amphorae = tuple(AmphoraState.of(row) for row in live_amphorae(session, lb_id))
        return Snapshot(lb=lb, amphorae=amphorae, attempt=lb.reconcile_attempts)
