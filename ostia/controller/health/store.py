"""Database side of the health manager: graph snapshots in, batched writes out.

One flush reads the graphs of every amphora heard from since the previous flush with a
handful of bulk SELECTs, and writes amphora health, changed operating statuses and
statistics with bulk UPDATEs and upserts, so the database is not written per datagram.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import select

from ostia.common import constants as c
from ostia.controller.health.status import (
    ListenerView,
    LoadBalancerView,
    MemberView,
    PoolView,
    StatusChanges,
)
from ostia.db import models

STATS_FIELDS = ("bytes_in", "bytes_out", "active_connections", "total_connections",
                "request_errors")


@dataclasses.dataclass
class AmphoraView:
    id: str
    status: str
    compute_id: str | None
    load_balancer: LoadBalancerView | None


def load_views(session: Session, amphora_ids: Iterable[str]) -> dict[str, AmphoraView]:
    """Snapshots of the named amphorae and their load balancers' graphs (not DELETED)."""
    ids = list(amphora_ids)
    if not ids:
        return {}
    amp = models.Amphora
    amphorae = session.execute(
        select(amp.id, amp.status, amp.compute_id, amp.load_balancer_id)
        .where(amp.id.in_(ids), amp.status != c.DELETED)
    ).all()
    lb_ids = {row.load_balancer_id for row in amphorae if row.load_balancer_id}
    lbs = _load_balancers(session, lb_ids)
    return {
        row.id: AmphoraView(id=row.id, status=row.status, compute_id=row.compute_id,
                            load_balancer=lbs.get(row.load_balancer_id))
        for row in amphorae
    }


def _load_balancers(session: Session, lb_ids: set[str]) -> dict[str, LoadBalancerView]:
    if not lb_ids:
        return {}
    lb, li, pool, mem = models.LoadBalancer, models.Listener, models.Pool, models.Member
    views = {
        row.id: LoadBalancerView(id=row.id, enabled=row.enabled,
                                 provisioning_status=row.provisioning_status,
                                 operating_status=row.operating_status, listeners=[], pools=[])
        for row in session.execute(
            select(lb.id, lb.enabled, lb.provisioning_status, lb.operating_status)
            .where(lb.id.in_(lb_ids), lb.provisioning_status != c.DELETED))
    }
    for row in session.execute(
            select(li.id, li.load_balancer_id, li.enabled, li.operating_status,
                   li.default_pool_id, li.protocol)
            .where(li.load_balancer_id.in_(views), li.provisioning_status != c.DELETED)):
        if row.protocol in (c.UDP, c.SCTP):
            continue  # served by keepalived/LVS, not reported in haproxy heartbeats
        views[row.load_balancer_id].listeners.append(ListenerView(
            id=row.id, enabled=row.enabled, operating_status=row.operating_status,
            pool_ids=[row.default_pool_id] if row.default_pool_id else []))
    pools: dict[str, PoolView] = {}
    for pool_row in session.execute(
            select(pool.id, pool.load_balancer_id, pool.operating_status)
            .where(pool.load_balancer_id.in_(views), pool.provisioning_status != c.DELETED)):
        pools[pool_row.id] = PoolView(id=pool_row.id, operating_status=pool_row.operating_status,
                                      members=[])
        views[str(pool_row.load_balancer_id)].pools.append(pools[pool_row.id])
    if pools:
        for member_row in session.execute(
                select(mem.id, mem.pool_id, mem.operating_status)
                .where(mem.pool_id.in_(pools), mem.provisioning_status != c.DELETED)):
            pools[member_row.pool_id].members.append(
                MemberView(id=member_row.id, operating_status=member_row.operating_status))
    return views


def _upsert(session: Session, model: Any, rows: Sequence[dict[str, Any]], keys: Sequence[str],
            replace: Sequence[str], add: Sequence[str] = ()) -> None:
    """INSERT ... ON CONFLICT DO UPDATE for SQLite and PostgreSQL; portable fallback."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(model)
        values = {name: insert.excluded[name] for name in replace}
        values.update({name: getattr(model, name) + insert.excluded[name] for name in add})
        session.execute(insert.values(list(rows)).on_conflict_do_update(
            index_elements=list(keys), set_=values))
        return
    for row in rows:  # other databases: merge row by row
        existing = session.get(model, tuple(row[k] for k in keys))
        if existing is None:
            session.add(model(**row))
            continue
        for name in replace:
            setattr(existing, name, row[name])
        for name in add:
            setattr(existing, name, getattr(existing, name) + row[name])


def record_alive(session: Session, seen: dict[str, int], now: datetime.datetime) -> None:
    """Refresh amphora health rows (busy untouched) and end FAILOVER_STOPPED for them."""
    rows = [{"amphora_id": amp_id, "last_update": now, "busy": False, "last_seq": seq}
            for amp_id, seq in seen.items()]
    _upsert(session, models.AmphoraHealth, rows, ["amphora_id"], ["last_update", "last_seq"])
    session.execute(
        update(models.Amphora)
        .where(models.Amphora.id.in_(list(seen)),
               models.Amphora.status == c.FAILOVER_STOPPED)
        .values(status=c.AMPHORA_ALLOCATED)
    )


def write_statuses(session: Session, changes: StatusChanges) -> None:
    """One UPDATE per (table, new status) with the ids that change to it."""
    for model, values in ((models.LoadBalancer, changes.load_balancer),
                          (models.Listener, changes.listener), (models.Pool, changes.pool),
                          (models.Member, changes.member)):
        by_status: dict[str, list[str]] = defaultdict(list)
        for ident, new in values.items():
            by_status[new].append(ident)
        for new, ids in by_status.items():
            session.execute(update(model).where(model.id.in_(ids))
                            .values(operating_status=new)
                            .execution_options(synchronize_session=False))


def write_statistics(session: Session, rows: Sequence[dict[str, Any]], version: int) -> None:
    """Version 3 heartbeats carry deltas: add them; older ones carry absolute values."""
    if version >= 3:
        _upsert(session, models.ListenerStatistics, rows, ["listener_id", "amphora_id"],
                replace=["active_connections", "received_time"],
                add=["bytes_in", "bytes_out", "total_connections", "request_errors"])
    else:
        _upsert(session, models.ListenerStatistics, rows, ["listener_id", "amphora_id"],
                replace=[*STATS_FIELDS, "received_time"])
