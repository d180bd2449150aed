"""One load balancer as a GET answer reads it: one prepared query, no ORM objects.

The GET of one load balancer is the API's most frequent call. Loading it through the ORM
(identity map, instance state, a loader per relationship) took about three quarters of the
request's CPU time for objects that are only read; five Core queries built per request
still cost ~0.8 ms, most of it building and compiling the statements. The statement here is
built once: the load balancer joined to its VIP and to the rows of its tags, additional
VIPs, listeners and pools (one row each, gathered by UNION ALL), selected by a bound id.
`read_load_balancer` returns a plain object with the attributes `loadbalancers.serialize`
reads, so the answer is built by the same function as every other answer for a load
balancer.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, literal_column, null, select, true, union_all

from ostia.db import models

_LB = models.LoadBalancer.__table__
_VIP = models.Vip.__table__
_TAG = models.Tag.__table__
_EXTRA = models.AdditionalVip.__table__
_LISTENER = models.Listener.__table__
_POOL = models.Pool.__table__
_VIP_PREFIX = "vip__"
_ID: BindParameter[str] = bindparam("lb_id")


def _child_rows(kind: str, *columns: Any) -> Any:
    """Rows (kind, a, b, c) of one kind of child; `columns[0]` is the owner's id column."""
    owner, *values = columns
    values += [null()] * (3 - len(values))
    labelled: list[Any] = [literal_column(f"'{kind}'").label("kind")]
    labelled += [value.label(name) for value, name in zip(values, ("a", "b", "c"), strict=True)]
    return select(*labelled).where(owner == _ID)


# What hangs off a load balancer, one row per item.
_CHILDREN = union_all(
    _child_rows("tag", _TAG.c.resource_id, _TAG.c.tag),
    _child_rows("vip", _EXTRA.c.load_balancer_id, _EXTRA.c.subnet_id, _EXTRA.c.ip_address, _EXTRA.c.port_id),
    _child_rows("listener", _LISTENER.c.load_balancer_id, _LISTENER.c.id, _LISTENER.c.provisioning_status),
    _child_rows("pool", _POOL.c.load_balancer_id, _POOL.c.id, _POOL.c.provisioning_status),
).subquery("child")

# One row per child (one with NULL child columns when there is none), each carrying the
# load balancer and its VIP.
_READ = (
    select(
        _LB,
        *[col.label(_VIP_PREFIX + col.name) for col in _VIP.c],
        *[col.label(f"child_{col.name}") for col in _CHILDREN.c],
    )
    .select_from(_LB.outerjoin(_VIP, _VIP.c.load_balancer_id == _LB.c.id).outerjoin(_CHILDREN, true()))
    .where(_LB.c.id == _ID)
)
_LB_KEYS = [col.name for col in _LB.c]
_VIP_KEYS = [col.name for col in _VIP.c]


def read_load_balancer(connection: Connection, lb_id: str) -> Any | None:
    """The load balancer `lb_id` with its VIPs, tags and child ids, or None if missing."""
    rows = connection.execute(_READ, {"lb_id": lb_id}).all()
    if not rows:
        return None
    first = rows[0]
    width = len(_LB_KEYS)
    vip = dict(zip(_VIP_KEYS, first[width : width + len(_VIP_KEYS)], strict=True))
    children: dict[str, list[tuple[Any, Any, Any]]] = {"tag": [], "vip": [], "listener": [], "pool": []}
    for row in rows:
        kind, a, b, c = row[-4:]
        if kind is not None:
            children[kind].append((a, b, c))
    return SimpleNamespace(
        **dict(zip(_LB_KEYS, first[:width], strict=True)),
        vip=SimpleNamespace(**vip) if vip["load_balancer_id"] is not None else None,
        tags=sorted(tag for tag, _, _ in children["tag"]),
        additional_vips=[
            SimpleNamespace(subnet_id=s, ip_address=a, port_id=p) for s, a, p in children["vip"]
        ],
        listeners=[SimpleNamespace(id=i, provisioning_status=s) for i, s, _ in children["listener"]],
        pools=[SimpleNamespace(id=i, provisioning_status=s) for i, s, _ in children["pool"]],
    )
