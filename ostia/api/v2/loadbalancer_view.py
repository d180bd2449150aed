"""One load balancer as a GET answer reads it, from five Core queries and no ORM objects.

The GET of one load balancer is the API's most frequent call. Loading it through the ORM
(identity map, instance state, a loader per relationship) took about three quarters of the
request's CPU time for objects that are only read. `read_load_balancer` returns a plain
object with the attributes `loadbalancers.serialize` reads, so the answer is built by the
same function as every other answer for a load balancer.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, select

from ostia.db import models

_LB = models.LoadBalancer.__table__
_VIP = models.Vip.__table__
_VIP_PREFIX = "vip__"


def read_load_balancer(connection: Connection, lb_id: str) -> Any | None:
    """The load balancer `lb_id` with its VIPs, tags and child ids, or None if missing."""
    row = (
        connection.execute(
            select(_LB, *[col.label(_VIP_PREFIX + col.name) for col in _VIP.c])
            .select_from(_LB.outerjoin(_VIP, _VIP.c.load_balancer_id == _LB.c.id))
            .where(_LB.c.id == lb_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    fields = {k: v for k, v in row.items() if not k.startswith(_VIP_PREFIX)}
    vip = {k[len(_VIP_PREFIX) :]: v for k, v in row.items() if k.startswith(_VIP_PREFIX)}
    extra = models.AdditionalVip
    return SimpleNamespace(
        **fields,
        vip=SimpleNamespace(**vip) if vip["load_balancer_id"] is not None else None,
        tags=sorted(connection.scalars(select(models.Tag.tag).where(models.Tag.resource_id == lb_id))),
        additional_vips=[
            SimpleNamespace(subnet_id=s, ip_address=a, port_id=p)
            for s, a, p in connection.execute(
                select(extra.subnet_id, extra.ip_address, extra.port_id).where(
                    extra.load_balancer_id == lb_id
                )
            )
        ],
        listeners=_children(connection, models.Listener, lb_id),
        pools=_children(connection, models.Pool, lb_id),
    )


def _children(connection: Connection, model: Any, lb_id: str) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(id=i, provisioning_status=s)
        for i, s in connection.execute(
            select(model.id, model.provisioning_status).where(model.load_balancer_id == lb_id)
        )
    ]
