"""`ostia status`'s object tree: each load balancer's listeners, pools and members.

Rows carry both statuses, so an operator sees which member is down (operating ERROR from
health checks) or which change failed (provisioning ERROR, whose reason is the load
balancer's last error).
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ostia.common import constants as c
from ostia.db import models
from ostia.db.session import Database


@dataclasses.dataclass(frozen=True)
class TreeRow:
    depth: int  # 0 load balancer, 1 listener or pool, 2 member or monitor
    kind: str
    id: str
    name: str
    detail: str  # protocol and port, address, algorithm...
    provisioning_status: str
    operating_status: str


def gather_tree(db: Database) -> list[TreeRow]:
    LB = models.LoadBalancer
    rows: list[TreeRow] = []
    with db.transaction() as session:
        lbs = session.scalars(
            select(LB)
            .where(LB.provisioning_status != c.DELETED)
            .order_by(LB.created_at)
            .options(
                selectinload(LB.listeners),
                selectinload(LB.pools).selectinload(models.Pool.members),
                selectinload(LB.pools).selectinload(models.Pool.health_monitor),
            )
        )
        for lb in lbs:
            vip = lb.vip.ip_address if lb.vip is not None and lb.vip.ip_address else ""
            rows.append(_row(0, "load balancer", lb, vip))
            for listener in sorted(lb.listeners, key=lambda li: li.protocol_port or 0):
                rows.append(_row(1, "listener", listener, f"{listener.protocol} :{listener.protocol_port}"))
            for pool in sorted(lb.pools, key=lambda p: p.created_at or models.utcnow()):
                rows.append(_row(1, "pool", pool, f"{pool.protocol} {pool.lb_algorithm}"))
                monitor = pool.health_monitor
                if monitor is not None:
                    rows.append(_row(2, "health monitor", monitor, f"{monitor.type} every {monitor.delay} s"))
                for member in sorted(pool.members, key=lambda m: (m.ip_address or "", m.protocol_port or 0)):
                    address = member.ip_address or ""
                    shown = f"[{address}]" if ":" in address else address
                    rows.append(_row(2, "member", member, f"{shown}:{member.protocol_port}"))
    return rows


def _row(depth: int, kind: str, obj: object, detail: str) -> TreeRow:
    return TreeRow(
        depth=depth,
        kind=kind,
        id=obj.id,  # type: ignore[attr-defined]
        name=getattr(obj, "name", None) or "",
        detail=detail,
        provisioning_status=obj.provisioning_status,  # type: ignore[attr-defined]
        operating_status=obj.operating_status,  # type: ignore[attr-defined]
    )
