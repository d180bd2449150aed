"""A load balancer's whole tree: single-call create and the status tree."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ostia.api.services import Call
from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.db import models
from ostia.drivers.provider.base import ProviderDriver


def create_children(call: Call, session: Session, lb: models.LoadBalancer,
                    provider: ProviderDriver, listeners: list[Any],
                    pools: list[Any]) -> None:
    """Create the listeners and pools nested in a load balancer create, all or nothing."""
    if listeners or pools:
        raise exc.BadRequest(
            "Single-call create of listeners and pools is not available yet; "
            "create them one by one.")


def serialize_full(lb: models.LoadBalancer) -> dict[str, Any]:
    """The load balancer with full nested listeners and pools (single-call create reply)."""
    from ostia.api.v2 import listeners as listeners_api
    from ostia.api.v2 import loadbalancers as lbs_api

    result = lbs_api.serialize(lb)
    result["listeners"] = [listeners_api.serialize(li) for li in lb.listeners]
    return result


def _live(objects: Any) -> list[Any]:
    return [o for o in objects if o.provisioning_status != c.DELETED]


def _pools_of(listener: models.Listener) -> list[models.Pool]:
    pools: dict[str, models.Pool] = {}
    if listener.default_pool is not None:
        pools[listener.default_pool.id] = listener.default_pool
    for policy in listener.l7policies:
        if policy.redirect_pool is not None:
            pools.setdefault(policy.redirect_pool.id, policy.redirect_pool)
    return _live(pools.values())


def _status(obj: Any, **extra: Any) -> dict[str, Any]:
    return {"id": obj.id, "name": obj.name or "",
            "provisioning_status": obj.provisioning_status,
            "operating_status": obj.operating_status, **extra}


def _pool_status(pool: models.Pool) -> dict[str, Any]:
    entry = _status(pool, members=[
        _status(m, address=m.ip_address, protocol_port=m.protocol_port)
        for m in _live(pool.members)
    ])
    monitor = pool.health_monitor
    if monitor is not None and monitor.provisioning_status != c.DELETED:
        entry["health_monitor"] = _status(monitor, type=monitor.type)
    return entry


def status_tree(lb: models.LoadBalancer) -> dict[str, Any]:
    """`{"id", "name", statuses..., "listeners": [{..., "pools": [{..., "members"}]}]}`."""
    return _status(lb, listeners=[
        _status(listener, pools=[_pool_status(p) for p in _pools_of(listener)])
        for listener in _live(lb.listeners)
    ])
