"""Database side of the health manager: graph snapshots in, batched writes out.

One flush reads the graphs of every amphora heard from since the previous flush with a
handful of bulk SELECTs, and writes amphora health, changed operating statuses and
statistics with bulk UPDATEs and upserts, so the database is not written per datagram.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import String, any_, bindparam, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.sql import select

from ostia.common import constants as c
from ostia.controller.health import bulk_sql
from ostia.controller.health.sequence import SequenceState
from ostia.controller.health.status import (
    ListenerView,
    LoadBalancerView,
    MemberView,
    PoolView,
    StatusChanges,
)
from ostia.db import models

IN_CHUNK = 5000
# A chunk's pools and members are selected by IN lists of its LBs' pool ids too.
LB_CHUNK = 1000
STATS_FIELDS = ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors")
# What version 3 heartbeats report as deltas since the previous heartbeat.
STATS_DELTAS = ("bytes_in", "bytes_out", "total_connections", "request_errors")


class AmphoraView(NamedTuple):
    id: str
    status: str
    compute_id: str | None
    load_balancer: LoadBalancerView | None


# An amphora row and its load balancer's version, read every flush: (id, status,
# compute_id, load_balancer_id, then the LB's provisioning_status, enabled, updated_at,
# all three None when it has no LB or a DELETED one). The last three are the LB's
# version: they change whenever anything under the LB changes, since every API change
# moves the LB through PENDING_* (which writes its row, and so `updated_at`), as do the
# worker's settle and the health manager's own LB status writes. Plain tuples: one per
# heard amphora per flush.
AmphoraStamp = tuple[
    str, str, "str | None", "str | None", "str | None", "bool | None", "datetime.datetime | None"
]


def _chunks(session: Session, ids: Iterable[str], size: int) -> Iterable[list[str]]:
    """Id lists to select by: bounded on SQLite (32,766 bound parameters per statement),
    one list on PostgreSQL (where `_one_of` sends it as one array parameter)."""
    items = list(ids)
    if session.get_bind().dialect.name == "postgresql":
        if items:
            yield items
        return
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _one_of(session: Session, column: Any, ids: list[str]) -> Any:
    """`column IN (...)`; on PostgreSQL `column = ANY(:array)`, one parameter whatever the
    count, instead of thousands rendered into the statement and parsed every flush."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("ids", ids, type_=postgresql.ARRAY(String), unique=True))
    return column.in_(ids)


def amphora_stamps(session: Session, amphora_ids: Iterable[str]) -> list[AmphoraStamp]:
    """The named amphorae (DELETED ones too: zombies) with their LB versions."""
    amp, lb = models.Amphora.__table__, models.LoadBalancer.__table__
    base = select(
        amp.c.id,
        amp.c.status,
        amp.c.compute_id,
        amp.c.load_balancer_id,
        lb.c.provisioning_status,
        lb.c.enabled,
        lb.c.updated_at,
    ).select_from(
        amp.outerjoin(lb, (lb.c.id == amp.c.load_balancer_id) & (lb.c.provisioning_status != c.DELETED))
    )
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql" and dialect.paramstyle == "pyformat":
        return _pg_stamps(session, base, list(amphora_ids))
    result: list[AmphoraStamp] = []
    for ids in _chunks(session, amphora_ids, IN_CHUNK):
        result.extend(
            tuple(row)  # type: ignore[misc]
            for row in session.connection().execute(base.where(_one_of(session, amp.c.id, ids))).all()
        )
    return result


_PG_STAMPS: dict[str, Any] = {}


def _pg_stamps(session: Session, base: Any, ids: list[str]) -> list[AmphoraStamp]:
    """Through the driver's cursor (psycopg2's named parameters): read as SQLAlchemy Rows
    made into frozen dataclasses, the stamps cost 10.8 us per heard amphora per flush in
    this process, as the driver's tuples 2.3 (10,000 amphorae)."""
    if not ids:
        return []
    connection = session.connection()
    compiled = _PG_STAMPS.get(connection.dialect.driver)
    if compiled is None:
        statement = base.where(
            models.Amphora.__table__.c.id == any_(bindparam("ids", type_=postgresql.ARRAY(String)))
        )
        compiled = _PG_STAMPS[connection.dialect.driver] = statement.compile(dialect=connection.dialect)
    from ostia.db import postgres_transactions  # psycopg2: imported on PostgreSQL only

    # The driver's cursor, and like any statement sent again if it finds the connection dead.
    rows: list[AmphoraStamp] = postgres_transactions.fetch_all(
        connection, str(compiled), {**compiled.params, "ids": ids}
    )
    return rows


def load_balancer_views(session: Session, lb_ids: Iterable[str]) -> dict[str, LoadBalancerView]:
    """Status graphs of the named load balancers (those not DELETED), four SELECTs a chunk.

    Core statements on the session's connection: the ORM's per-row overhead would
    dominate a flush that reads thousands of graphs.
    """
    views: dict[str, LoadBalancerView] = {}
    for ids in _chunks(session, lb_ids, LB_CHUNK):
        views.update(_load_balancer_chunk(session, ids))
    return views


def _load_balancer_chunk(session: Session, lb_ids: list[str]) -> dict[str, LoadBalancerView]:
    conn = session.connection()
    lb = models.LoadBalancer.__table__
    li, pool, mem = models.Listener.__table__, models.Pool.__table__, models.Member.__table__
    views = {
        row[0]: LoadBalancerView(
            id=row[0],
            enabled=row[1],
            provisioning_status=row[2],
            operating_status=row[3],
            listeners=[],
            pools=[],
        )
        for row in conn.execute(
            select(lb.c.id, lb.c.enabled, lb.c.provisioning_status, lb.c.operating_status).where(
                _one_of(session, lb.c.id, lb_ids), lb.c.provisioning_status != c.DELETED
            )
        ).all()
    }
    if not views:
        return views
    for row in conn.execute(
        select(
            li.c.id,
            li.c.load_balancer_id,
            li.c.enabled,
            li.c.operating_status,
            li.c.default_pool_id,
            li.c.protocol,
        ).where(_one_of(session, li.c.load_balancer_id, list(views)), li.c.provisioning_status != c.DELETED)
    ).all():
        if row[5] == c.SCTP:
            continue  # no amphora serves SCTP listeners: never in a heartbeat
        views[row[1]].listeners.append(
            ListenerView(
                id=row[0], enabled=row[2], operating_status=row[3], pool_ids=[row[4]] if row[4] else []
            )
        )
    pools: dict[str, PoolView] = {}
    for pool_row in conn.execute(
        select(pool.c.id, pool.c.load_balancer_id, pool.c.operating_status).where(
            _one_of(session, pool.c.load_balancer_id, list(views)), pool.c.provisioning_status != c.DELETED
        )
    ).all():
        pools[pool_row[0]] = PoolView(id=pool_row[0], operating_status=pool_row[2], members=[])
        views[pool_row[1]].pools.append(pools[pool_row[0]])
    if pools:
        for member_row in conn.execute(
            select(mem.c.id, mem.c.pool_id, mem.c.operating_status).where(
                _one_of(session, mem.c.pool_id, list(pools)), mem.c.provisioning_status != c.DELETED
            )
        ).all():
            pools[member_row[1]].members.append(MemberView(id=member_row[0], operating_status=member_row[2]))
    return views


def _upsert(
    session: Session,
    model: Any,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    replace: Sequence[str],
    add: Sequence[str] = (),
    newest: Sequence[str] = (),
) -> None:
    """One bulk statement on SQLite and PostgreSQL; row by row elsewhere."""
    if not rows:
        return
    if session.get_bind().dialect.name in ("sqlite", "postgresql"):
        bulk_sql.upsert(session, model.__table__, rows, keys, replace, add, newest)
        return
    for row in rows:
        existing = session.get(model, tuple(row[k] for k in keys))
        if existing is None:
            session.add(model(**row))
            continue
        for name in replace:
            setattr(existing, name, row[name])
        for name in add:
            setattr(existing, name, getattr(existing, name) + row[name])
        for name in newest:
            setattr(existing, name, max(getattr(existing, name), row[name]))


# record_alive on PostgreSQL: the upsert `_upsert` would make, with arrival times sent as
# epoch seconds (a float adapts in a third of a datetime's time, and a datetime per row
# took as long again to make) and `busy` a constant; every flush runs it for each
# amphora heard. `last_update` never moves back (GREATEST), as in `_upsert`'s `newest`.
_PG_ALIVE = text(
    "INSERT INTO amphora_health "
    "(amphora_id, last_update, busy, last_seq, boot_id, previous_boot_ids) "
    "SELECT v.amphora_id, to_timestamp(v.heard_at) AT TIME ZONE 'UTC', false, v.last_seq, "
    "v.boot_id, v.previous_boot_ids "
    "FROM unnest(CAST(:ids AS VARCHAR(36)[]), CAST(:heard_at AS FLOAT8[]), "
    "CAST(:seqs AS INTEGER[]), CAST(:boot_ids AS VARCHAR(36)[]), CAST(:previous AS VARCHAR(296)[])) "
    "AS v(amphora_id, heard_at, last_seq, boot_id, previous_boot_ids) "
    "ON CONFLICT (amphora_id) DO UPDATE SET last_seq = excluded.last_seq, "
    "boot_id = excluded.boot_id, previous_boot_ids = excluded.previous_boot_ids, "
    "last_update = GREATEST(amphora_health.last_update, excluded.last_update)"
)


def record_alive(session: Session, seen: dict[str, SequenceState], restored: Iterable[str] = ()) -> None:
    """Refresh amphora health rows (busy untouched) with where their heartbeats stand;
    `restored` leave FAILOVER_STOPPED.

    `last_update` is when the amphora's last heartbeat arrived, not when it was written:
    the stale detector counts silence from it, and a flush that runs late must not make
    an amphora look silent for its lag.
    """
    if seen:
        _write_health(session, seen)
    back = list(restored)
    if back:
        session.execute(
            update(models.Amphora)
            .where(models.Amphora.id.in_(back), models.Amphora.status == c.FAILOVER_STOPPED)
            .values(status=c.AMPHORA_ALLOCATED)
            .execution_options(synchronize_session=False)
        )


def _write_health(session: Session, seen: dict[str, SequenceState]) -> None:
    # In key order (bulk_sql.upsert: deadlocks between managers).
    ids = sorted(seen)
    states = [seen[amp_id] for amp_id in ids]
    if session.get_bind().dialect.name == "postgresql":
        session.connection().execute(
            _PG_ALIVE,
            {
                "ids": ids,
                "heard_at": [state.heard_at for state in states],
                "seqs": [state.seq for state in states],
                "boot_ids": [state.boot_id for state in states],
                "previous": [state.joined_previous() for state in states],
            },
        )
        return
    rows = [
        {
            "amphora_id": amp_id,
            "last_update": _naive_utc(state.heard_at),
            "busy": False,
            "last_seq": state.seq,
            "boot_id": state.boot_id,
            "previous_boot_ids": state.joined_previous(),
        }
        for amp_id, state in zip(ids, states, strict=True)
    ]
    # `last_update` never moves back: with several managers, one that runs behind would
    # otherwise overwrite another's newer arrival time with its older one, and make a
    # live amphora look silent for its lag.
    _upsert(
        session,
        models.AmphoraHealth,
        rows,
        ["amphora_id"],
        ["last_seq", "boot_id", "previous_boot_ids"],
        newest=["last_update"],
    )


def _naive_utc(epoch: float) -> datetime.datetime:
    """Epoch seconds as the naive UTC datetime every timestamp column stores."""
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).replace(tzinfo=None)


def write_statuses(session: Session, changes: StatusChanges, now: datetime.datetime | None = None) -> None:
    """One bulk UPDATE per table with the rows whose operating status changed."""
    now = now or models.utcnow()
    for model, values in (
        (models.LoadBalancer, changes.load_balancer),
        (models.Listener, changes.listener),
        (models.Pool, changes.pool),
        (models.Member, changes.member),
    ):
        bulk_sql.set_by_id(session, model.__table__, "operating_status", values, now)


def write_statistics(session: Session, rows: Sequence[dict[str, Any]], version: int) -> None:
    """Version 3 heartbeats carry deltas: add them; older ones carry absolute values."""
    if version >= 3:
        _upsert(
            session,
            models.ListenerStatistics,
            rows,
            ["listener_id", "amphora_id"],
            replace=["active_connections", "received_time"],
            add=list(STATS_DELTAS),
        )
    else:
        _upsert(
            session,
            models.ListenerStatistics,
            rows,
            ["listener_id", "amphora_id"],
            replace=[*STATS_FIELDS, "received_time"],
        )
