"""Member writes on rows: the pool read, the locks, the insert or update as Core statements.

The same checks, in the same order, and the same rows as the ORM path that members.build
and pools.lock_for_pool_child take (which a batch update still takes), without an ORM
object: the pool, its load balancer and whether it has a monitor in one SELECT, the
load balancer's lock, the pool's and its listeners' move to PENDING_UPDATE in one UPDATE
each, the member and its tags inserted. The ORM path loaded the pool's whole member list
to append to it, so its cost grew with the pool; this one does not.
Statements are built once: building and compiling one costs more than running it.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ostia.api.resource import read_live
from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.db import lifecycle, models

P, LB, M = models.Pool, models.LoadBalancer, models.Member
HM, L, POLICY = models.HealthMonitor, models.Listener, models.L7Policy
POOL_DISPLAY = "Pool"

_POOL = (
    sa.select(
        P.id,
        P.project_id,
        P.provisioning_status,
        P.load_balancer_id,
        LB.id.label("lb_id"),
        LB.provider,
        LB.flavor_id,
        sa.exists().where(HM.pool_id == P.id, HM.provisioning_status != c.DELETED).label("has_monitor"),
    )
    .outerjoin(LB, LB.id == P.load_balancer_id)
    .where(P.id == sa.bindparam("pool_id"))
)

# lifecycle.mark_pending_update of the pool and of pools.listeners_of(pool): the live
# listeners that send traffic to it, as default pool or through a live L7 redirect.
_MOVABLE = (c.ACTIVE, c.ERROR)
_POOL_PENDING = (
    sa.update(P)
    .where(P.id == sa.bindparam("pool_id"), P.provisioning_status.in_(_MOVABLE))
    .values(provisioning_status=c.PENDING_UPDATE)
)
_LISTENERS_PENDING = (
    sa.update(L)
    .where(
        L.provisioning_status.in_(_MOVABLE),
        sa.or_(
            L.default_pool_id == sa.bindparam("pool_id"),
            L.id.in_(
                sa.select(POLICY.listener_id).where(
                    POLICY.redirect_pool_id == sa.bindparam("pool_id"),
                    POLICY.provisioning_status != c.DELETED,
                )
            ),
        ),
    )
    .values(provisioning_status=c.PENDING_UPDATE)
)


def read_pool(connection: sa.Connection, pool_id: str) -> Any:
    """The live pool `pool_id` with its load balancer's id, provider and flavor, and
    whether it has a live monitor; 404 as pools.get_pool answers it."""
    row = connection.execute(_POOL, {"pool_id": pool_id}).first()
    if row is None or row.provisioning_status == c.DELETED:
        raise exc.NotFound(POOL_DISPLAY, pool_id)
    return row


def require_load_balancer(pool: Any) -> str:
    """The pool's load balancer id; 404 for a pool without one (pools.load_balancer_of)."""
    if pool.lb_id is None:
        raise exc.NotFound(POOL_DISPLAY, pool.id)
    return str(pool.lb_id)


def lock_for_member(session: Session, pool: Any, *, repair: bool = False) -> None:
    """pools.lock_for_pool_child: the pool ACTIVE (or ERROR for an update or delete:
    `repair`; else 409), the load balancer into PENDING_UPDATE from the statuses
    lifecycle allows (else 409), the pool and its listeners PENDING_UPDATE."""
    if pool.provisioning_status not in ((c.ACTIVE, c.ERROR) if repair else (c.ACTIVE,)):
        raise exc.ImmutableObject(POOL_DISPLAY, pool.id)
    lb_id = pool.lb_id
    allowed = lifecycle.CHILD_REPAIR_FROM if repair else lifecycle.CHILD_CREATE_FROM
    if not lifecycle.move_load_balancer(session, lb_id, allowed, c.PENDING_UPDATE, synchronize=False):
        raise exc.ImmutableObject("Load Balancer", lb_id)
    connection = session.connection()
    connection.execute(_POOL_PENDING, {"pool_id": pool.id})
    connection.execute(_LISTENERS_PENDING, {"pool_id": pool.id})


def insert_member(session: Session, values: dict[str, Any], tags: list[str] | None) -> Any:
    """Insert the member row `values` (columns without id and timestamps) and its tags;
    the stored member as the object its answer is made from."""
    row: dict[str, Any] = {"id": models.new_id(), "created_at": models.utcnow(), "updated_at": None, **values}
    wanted = list(dict.fromkeys(tags or []))
    connection = session.connection()
    connection.execute(sa.insert(M), row)
    if wanted:
        connection.execute(sa.insert(models.Tag), [{"resource_id": row["id"], "tag": tag} for tag in wanted])
    return SimpleNamespace(**row, tags=sorted(wanted))


def read_member(connection: sa.Connection, pool: Any, member_id: str, display: str) -> Any:
    """The live member `member_id` of `pool` as a row object (tags load when read); 404
    when it is missing, DELETED or another pool's (the caller checks who may see it)."""
    member = read_live(connection, M, member_id, display)
    if member.pool_id != pool.id:
        raise exc.NotFound(display, member_id)
    return member


def change_member(session: Session, member: Any, values: dict[str, Any], tags: list[str] | None) -> Any:
    """Store `values` (columns) and, unless None, `tags` on the row object `member`, as
    the ORM's flush stores them: the row is written (and its updated_at stamped) only if a
    column changes. Returns `member` with the values, as its answer is made from."""
    changed = {key: value for key, value in values.items() if getattr(member, key) != value}
    connection = session.connection()
    if changed:
        changed["updated_at"] = models.utcnow()
        connection.execute(sa.update(M).where(M.id == member.id).values(changed))
        for key, value in changed.items():
            setattr(member, key, value)
    if tags is not None:
        member.tags = sorted(_replace_tags(connection, member.id, tags))
    return member


def _replace_tags(connection: sa.Connection, resource_id: str, tags: list[str]) -> list[str]:
    """The member's tags become `tags` (each once), as `TaggedMixin.tags` sets them."""
    wanted = list(dict.fromkeys(tags))
    connection.execute(sa.delete(models.Tag).where(models.Tag.resource_id == resource_id))
    if wanted:
        connection.execute(
            sa.insert(models.Tag), [{"resource_id": resource_id, "tag": tag} for tag in wanted]
        )
    return wanted
