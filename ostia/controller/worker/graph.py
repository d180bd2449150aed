"""Read one load balancer's stored graph in one short transaction, for use after it closes.

The worker never holds a transaction while it talks to drivers: it reads a snapshot here,
closes the session, and works on detached objects. Every relationship the renderer and the
steps follow is loaded up front (a lazy load on a detached object would fail).
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

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
    return [
        selectinload(LB.additional_vips),
        listener.selectinload(models.Listener.default_pool),
        listener.selectinload(models.Listener.l7policies).selectinload(models.L7Policy.rules),
        listener.selectinload(models.Listener.l7policies).selectinload(models.L7Policy.redirect_pool),
        pool.selectinload(models.Pool.members),
        pool.selectinload(models.Pool.health_monitor),
        pool.selectinload(models.Pool.listeners),
        pool.selectinload(models.Pool.l7policies),
    ]


def _touch(lb: models.LoadBalancer) -> None:
    """Load whatever the options missed (cheap when everything is loaded already)."""
    _ = lb.vip, lb.additional_vips, lb.tags
    for listener in lb.listeners:
        _ = listener.default_pool, listener.tags
        for policy in listener.l7policies:
            _ = policy.redirect_pool, policy.tags
            for rule in policy.rules:
                _ = rule.tags
    for pool in lb.pools:
        _ = pool.health_monitor, pool.session_persistence, pool.listeners, pool.l7policies
        _ = pool.tags
        for member in pool.members:
            _ = member.tags
        if pool.health_monitor is not None:
            _ = pool.health_monitor.tags


def live_amphorae(session: Session, lb_id: str) -> list[models.Amphora]:
    return list(
        session.scalars(
            select(models.Amphora)
            .where(models.Amphora.load_balancer_id == lb_id, models.Amphora.status != c.DELETED)
            .order_by(models.Amphora.created_at, models.Amphora.id)
        )
    )


def read_snapshot(db: Database, lb_id: str) -> Snapshot | None:
    """The LB's graph and its amphorae that are not DELETED, or None if the LB is gone."""
    with db.transaction() as session:
        lb = session.scalar(select(LB).where(LB.id == lb_id).options(*_options()))
        if lb is None:
            return None
        _touch(lb)
        amphorae = tuple(AmphoraState.of(row) for row in live_amphorae(session, lb_id))
        return Snapshot(lb=lb, amphorae=amphorae, attempt=lb.reconcile_attempts)
