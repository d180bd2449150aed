"""Octavia's status rules as the API answers them: lookups that hide DELETED, and 409 when
a load balancer's transition into PENDING_* is refused.

The transitions themselves live in `ostia.db.lifecycle`, which the worker and the health
manager use too.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.db import lifecycle, models

ModelT = TypeVar("ModelT", bound=models.Base)


def get_live(session: Session, model: type[ModelT], ident: str, display: str) -> ModelT:
    """The object with id `ident`, or 404 when it is missing or DELETED."""
    obj = session.get(model, ident)
    if obj is None or getattr(obj, "provisioning_status", None) == c.DELETED:
        raise exc.NotFound(display, ident)
    return obj


def lock_for_child_change(session: Session, lb_id: str, *, repair: bool = False) -> None:
    """Child create: the LB must be ACTIVE and becomes PENDING_UPDATE. Child update or
    delete (`repair`): ACTIVE or ERROR."""
    if not lifecycle.begin_child_change(session, lb_id, repair=repair):
        raise exc.ImmutableObject("Load Balancer", lb_id)


def lock_for_update(session: Session, lb: models.LoadBalancer) -> None:
    """LB update: ACTIVE -> PENDING_UPDATE, else 409 Invalid state."""
    if not lifecycle.begin_update(session, lb.id):
        session.refresh(lb)
        raise exc.InvalidState(lb.provisioning_status, lb.id)


def lock_for_delete(session: Session, lb: models.LoadBalancer) -> None:
    """LB delete: ACTIVE or ERROR -> PENDING_DELETE."""
    if not lifecycle.begin_delete(session, lb.id):
        session.refresh(lb)
        raise exc.InvalidState(lb.provisioning_status, lb.id)


def lock_row_for_update(session: Session, lb_id: str) -> None:
    """`lock_for_update` for a caller that works on rows, with no object loaded."""
    if not lifecycle.begin_update(session, lb_id, synchronize=False):
        _refuse(session, lb_id)


def lock_row_for_delete(session: Session, lb_id: str) -> None:
    """`lock_for_delete` for a caller that works on rows, with no object loaded."""
    if not lifecycle.begin_delete(session, lb_id, synchronize=False):
        _refuse(session, lb_id)


def _refuse(session: Session, lb_id: str) -> None:
    """409 with the status as it is now (a concurrent writer may have changed it since
    the caller read it), 404 if the load balancer is gone meanwhile."""
    LB = models.LoadBalancer
    now = session.connection().execute(select(LB.provisioning_status).where(LB.id == lb_id)).scalar()
    if now is None or now == c.DELETED:
        raise exc.NotFound("Load Balancer", lb_id)
    raise exc.InvalidState(now, lb_id)


def request_failover(session: Session, lb: models.LoadBalancer) -> None:
    """LB failover: ACTIVE or ERROR -> PENDING_UPDATE, its amphorae marked for replacement."""
    if not lifecycle.request_failover(session, lb.id):
        session.refresh(lb)
        raise exc.InvalidState(lb.provisioning_status, lb.id)


def require_active(obj: Any, display: str, *, repair: bool = False) -> None:
    """A parent other than the LB (pool for members, policy for rules) must be ACTIVE
    (or in ERROR, for an update or delete of the child: `repair`)."""
    allowed = (c.ACTIVE, c.ERROR) if repair else (c.ACTIVE,)
    if obj.provisioning_status not in allowed:
        raise exc.ImmutableObject(display, obj.id)
