"""A failover request, stored: the amphorae to replace are marked PENDING_DELETE.

Called in the same transaction that moves the load balancer to PENDING_UPDATE (the API's
load balancer and amphora failover, the health manager). The worker then builds a
replacement for every role left without a serving amphora, moves the VIP's traffic to it,
and deletes the marked ones; a lost wake-up or a dead worker only delays that (the sweep
finds the PENDING_UPDATE load balancer and the marks are still there).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from ostia.common import constants as c
from ostia.db import models

# Amphorae a failover replaces: everything not already leaving.
REPLACEABLE = (c.PENDING_CREATE, c.AMPHORA_BOOTING, c.AMPHORA_ALLOCATED, c.FAILOVER_STOPPED, c.ERROR)


def mark_for_failover(session: Session, lb_id: str, amphora_id: str | None = None) -> int:
    """Mark the load balancer's amphorae (or just `amphora_id`) for replacement."""
    amp = models.Amphora
    statement = update(amp).where(amp.load_balancer_id == lb_id, amp.status.in_(REPLACEABLE))
    if amphora_id is not None:
        statement = statement.where(amp.id == amphora_id)
    result: Any = session.execute(
        statement.values(status=c.PENDING_DELETE, updated_at=models.utcnow()).execution_options(
            synchronize_session=False
        )
    )
    return int(result.rowcount or 0)
