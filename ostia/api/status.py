"""Octavia's status rules in one place: lookups that hide DELETED, and the LB lock.

Every write under a load balancer takes the lock with one conditional UPDATE
(`ACTIVE` -> `PENDING_UPDATE`), so two concurrent writers can never both succeed and a
load balancer in `PENDING_*` answers 409, whatever the database.

One departure from upstream, so that a tenant can repair what the data plane refused:
updating or deleting a child (listener, pool, member, monitor, L7 policy or rule) is also
allowed while the load balancer, or the pool/policy above the child, is in ERROR. Upstream
answers 409 there and leaves only a cascade delete or an admin failover; its own workers
avoid the dead end by putting the LB back to ACTIVE when a child change fails, which a
level-triggered reconciler that applies the whole graph cannot honestly do.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.orm import Session

from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.common import request_id
from ostia.db import models

ModelT = TypeVar("ModelT", bound=models.Base)


def get_live(session: Session, model: type[ModelT], ident: str, display: str) -> ModelT:
    """The object with id `ident`, or 404 when it is missing or DELETED."""
    obj = session.get(model, ident)
    if obj is None or getattr(obj, "provisioning_status", None) == c.DELETED:
        raise exc.NotFound(display, ident)
    return obj


def _transition(session: Session, lb_id: str, allowed: tuple[str, ...], target: str) -> bool:
    result: Any = session.execute(
        update(models.LoadBalancer)
        .where(models.LoadBalancer.id == lb_id,
               models.LoadBalancer.provisioning_status.in_(allowed))
        .values(provisioning_status=target, updated_at=models.utcnow(),
                reconcile_attempts=0, last_error=None,
                request_id=request_id.current())
        .execution_options(synchronize_session="fetch")
    )
    return bool(result.rowcount)


def lock_for_child_change(session: Session, lb_id: str, *, repair: bool = False) -> None:
    """Child create: the LB must be ACTIVE and becomes PENDING_UPDATE. Child update or
    delete (`repair`): ACTIVE or ERROR."""
    allowed = (c.ACTIVE, c.ERROR) if repair else (c.ACTIVE,)
    if not _transition(session, lb_id, allowed, c.PENDING_UPDATE):
        raise exc.ImmutableObject("Load Balancer", lb_id)


def lock_for_update(session: Session, lb: models.LoadBalancer) -> None:
    """LB update: ACTIVE -> PENDING_UPDATE, else 409 Invalid state."""
    if not _transition(session, lb.id, (c.ACTIVE,), c.PENDING_UPDATE):
        session.refresh(lb)
        raise exc.InvalidState(lb.provisioning_status, lb.id)


def lock_for_delete(session: Session, lb: models.LoadBalancer) -> None:
    """LB delete: ACTIVE or ERROR -> PENDING_DELETE."""
    if not _transition(session, lb.id, (c.ACTIVE, c.ERROR), c.PENDING_DELETE):
        session.refresh(lb)
        raise exc.InvalidState(lb.provisioning_status, lb.id)


def lock_for_failover(session: Session, lb: models.LoadBalancer) -> None:
    """LB failover: ACTIVE or ERROR -> PENDING_UPDATE."""
    if not _transition(session, lb.id, (c.ACTIVE, c.ERROR), c.PENDING_UPDATE):
        session.refresh(lb)
        raise exc.InvalidState(lb.provisioning_status, lb.id)


def require_active(obj: Any, display: str, *, repair: bool = False) -> None:
    """A parent other than the LB (pool for members, policy for rules) must be ACTIVE
    (or in ERROR, for an update or delete of the child: `repair`)."""
    allowed = (c.ACTIVE, c.ERROR) if repair else (c.ACTIVE,)
    if obj.provisioning_status not in allowed:
        raise exc.ImmutableObject(display, obj.id)


def mark_pending_update(*objects: Any) -> None:
    """ACTIVE or ERROR objects a change involves go PENDING_UPDATE: the worker applies
    them again, and settles them ACTIVE or, refused again, ERROR."""
    for obj in objects:
        if obj is not None and obj.provisioning_status in (c.ACTIVE, c.ERROR):
            obj.provisioning_status = c.PENDING_UPDATE
