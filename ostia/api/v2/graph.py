"""A load balancer's whole tree: single-call create and the status tree.

Single-call create takes `listeners` (each with a `default_pool` object or a reference to
a pool by name, and `l7policies` with `redirect_pool` and `rules`) and `pools` (each with
a `healthmonitor` and `members`). Pools given in full under a listener or a policy are
hoisted to the pool list first, so every pool is created once and referenced by name.
It all runs in the load balancer's create transaction: any invalid part raises, the
transaction rolls back, and nothing is stored.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy.orm import Session

from ostia.api import quota, types
from ostia.api.services import Call
from ostia.api.v2 import healthmonitors, l7policies, l7rules, listeners, members, pools
from ostia.api.v2.healthmonitors import HealthMonitorSingleCreate
from ostia.api.v2.l7policies import L7PolicyFields
from ostia.api.v2.listeners import ListenerCreate
from ostia.api.v2.members import MemberCreate
from ostia.api.v2.pools import PoolSingleCreate
from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.db import models
from ostia.drivers.provider.base import ProviderDriver


@dataclasses.dataclass
class PoolSpec:
    body: PoolSingleCreate
    monitor: HealthMonitorSingleCreate | None
    members: list[MemberCreate]


@dataclasses.dataclass
class PolicySpec:
    body: L7PolicyFields
    redirect_pool: str | None


@dataclasses.dataclass
class ListenerSpec:
    body: ListenerCreate
    default_pool: str | None
    policies: list[PolicySpec]


@dataclasses.dataclass
class GraphPlan:
    pools: list[PoolSpec] = dataclasses.field(default_factory=list)
    listeners: list[ListenerSpec] = dataclasses.field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many objects of each quota resource the graph creates."""
        policies = [p for li in self.listeners for p in li.policies]
        return {
            "pool": len(self.pools),
            "health_monitor": sum(1 for p in self.pools if p.monitor is not None),
            "member": sum(len(p.members) for p in self.pools),
            "listener": len(self.listeners),
            "l7policy": len(policies),
            "l7rule": sum(len(p.body.rules or []) for p in policies),
        }


# ---- reading the request -------------------------------------------------------------


def _objects(value: Any, field: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise exc.InvalidInput(field, value, "Expected a list of objects.")
    return [dict(v) for v in value]


def _pool_reference(value: Any, field: str, hoisted: list[tuple[str, dict[str, Any]]]) -> str | None:
    """The name of a pool given under a listener or policy; a full definition is hoisted."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise exc.InvalidInput(field, value, "Expected an object.")
    name = value.get("name")
    if not name:
        raise exc.ValidationFailure("Pools must be named when creating a fully populated loadbalancer.")
    if set(value) - {"name"}:
        hoisted.append((field, dict(value)))
    return str(name)


def _parse_pool(field: str, raw: dict[str, Any]) -> PoolSpec:

    body = types.parse(pools.PoolSingleCreate, raw, field)
    monitor = None
    if body.healthmonitor is not None:
        monitor = types.parse(
            healthmonitors.HealthMonitorSingleCreate, body.healthmonitor, f"{field}.healthmonitor"
        )
    children = [
        types.parse(members.MemberCreate, item, f"{field}.members.{i}")
        for i, item in enumerate(_objects(body.members, f"{field}.members"))
    ]
    return PoolSpec(body, monitor, children)


def _parse_listener(
    lb: models.LoadBalancer, field: str, raw: dict[str, Any], hoisted: list[tuple[str, dict[str, Any]]]
) -> ListenerSpec:

    if "loadbalancer_id" in raw:
        raise exc.InvalidInput(f"{field}.loadbalancer_id", raw["loadbalancer_id"], "Unknown attribute.")
    default_pool = _pool_reference(raw.pop("default_pool", None), f"{field}.default_pool", hoisted)
    policies = []
    for i, policy in enumerate(_objects(raw.pop("l7policies", None), f"{field}.l7policies")):
        where = f"{field}.l7policies.{i}"
        redirect = _pool_reference(policy.pop("redirect_pool", None), f"{where}.redirect_pool", hoisted)
        policies.append(PolicySpec(types.parse(l7policies.L7PolicyFields, policy, where), redirect))
    body = types.parse(listeners.ListenerCreate, {**raw, "loadbalancer_id": lb.id}, field)
    return ListenerSpec(body, default_pool, policies)


def plan_graph(lb: models.LoadBalancer, listener_raws: list[Any], pool_raws: list[Any]) -> GraphPlan:
    """Parse and cross-check the whole graph before anything is created."""
    hoisted: list[tuple[str, dict[str, Any]]] = []
    plan = GraphPlan()
    for i, raw in enumerate(_objects(listener_raws, "listeners")):
        plan.listeners.append(_parse_listener(lb, f"listeners.{i}", raw, hoisted))
    top_level = [(f"pools.{i}", raw) for i, raw in enumerate(_objects(pool_raws, "pools"))]
    plan.pools = [_parse_pool(field, raw) for field, raw in top_level + hoisted]
    names = [p.body.name for p in plan.pools]
    if len(set(names)) != len(names):
        raise exc.ValidationFailure("Pool names must be unique when creating a fully populated loadbalancer.")
    referenced = [li.default_pool for li in plan.listeners] + [
        p.redirect_pool for li in plan.listeners for p in li.policies
    ]
    for name in referenced:
        if name is not None and name not in names:
            raise exc.ValidationFailure(f"Pool '{name}' was referenced but no full definition was found.")
    return plan


# ---- creating it ---------------------------------------------------------------------


def _build_pools(
    call: Call, session: Session, lb: models.LoadBalancer, plan: GraphPlan
) -> dict[str | None, models.Pool]:

    created: dict[str | None, models.Pool] = {}
    for spec in plan.pools:
        pool = pools.build(call, session, lb, spec.body, lb.project_id or "")
        session.flush()
        if spec.monitor is not None:
            healthmonitors.build(call, session, pool, spec.monitor)
        for member in spec.members:
            members.build(call, session, pool, lb, member, members.resolve_subnet(call, member.subnet_id))
        created[spec.body.name] = pool
    return created


def _build_listeners(
    call: Call,
    session: Session,
    lb: models.LoadBalancer,
    plan: GraphPlan,
    pools_by_name: dict[str | None, models.Pool],
) -> None:

    project_id = lb.project_id or ""
    for spec in plan.listeners:
        body = spec.body
        if spec.default_pool is not None:
            body = body.model_copy(update={"default_pool_id": pools_by_name[spec.default_pool].id})
        listener = listeners.build(call, session, lb, body, project_id)
        session.flush()
        for policy in spec.policies:
            redirect = pools_by_name[policy.redirect_pool] if policy.redirect_pool else None
            l7policies.build(call, session, listener, policy.body, project_id, redirect_pool=redirect)


def create_children(
    call: Call,
    session: Session,
    lb: models.LoadBalancer,
    provider: ProviderDriver,
    listener_raws: list[Any],
    pool_raws: list[Any],
) -> None:
    """Create the listeners and pools nested in a load balancer create, all or nothing.

    `provider` has already accepted the load balancer; pools ask it about their
    algorithm through the registry like any pool create.
    """
    if not listener_raws and not pool_raws:
        return
    plan = plan_graph(lb, listener_raws, pool_raws)
    for resource, count in plan.counts().items():
        quota.check(session, call.conf, lb.project_id or "", resource, adding=count)
    pools_by_name = _build_pools(call, session, lb, plan)
    _build_listeners(call, session, lb, plan, pools_by_name)
    session.flush()
    # Relationship lists loaded before the children existed would hide them from the reply.
    session.expire_all()


# ---- the full reply of a single-call create ------------------------------------------


def _live(objects: Any) -> list[Any]:
    return [o for o in objects if o.provisioning_status != c.DELETED]


def _without(item: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in keys}


def _full_listener(listener: models.Listener) -> dict[str, Any]:

    result = _without(listeners.serialize(listener), "loadbalancers")
    result["l7policies"] = [
        {**l7policies.serialize(policy), "rules": [l7rules.serialize(rule) for rule in _live(policy.rules)]}
        for policy in _live(listener.l7policies)
    ]
    return result


def _full_pool(pool: models.Pool) -> dict[str, Any]:

    result = _without(pools.serialize(pool), "loadbalancers")
    monitor = pools.live_monitor(pool)
    result["healthmonitor"] = (
        _without(healthmonitors.serialize(monitor), "pools") if monitor is not None else None
    )
    result["members"] = [members.serialize(m) for m in _live(pool.members)]
    return result


def full_children(lb: models.LoadBalancer) -> dict[str, Any]:
    """The load balancer's listeners and pools in full, as a single-call create answers
    them in place of their ids."""
    return {
        "listeners": [_full_listener(li) for li in _live(lb.listeners)],
        "pools": [_full_pool(p) for p in _live(lb.pools)],
    }


# ---- status tree ---------------------------------------------------------------------


def _pools_of(listener: models.Listener) -> list[models.Pool]:
    found: dict[str, models.Pool] = {}
    if listener.default_pool is not None:
        found[listener.default_pool.id] = listener.default_pool
    for policy in _live(listener.l7policies):
        if policy.redirect_pool is not None:
            found.setdefault(policy.redirect_pool.id, policy.redirect_pool)
    return _live(found.values())


def _status(obj: Any, **extra: Any) -> dict[str, Any]:
    return {
        "id": obj.id,
        "name": obj.name or "",
        "provisioning_status": obj.provisioning_status,
        "operating_status": obj.operating_status,
        **extra,
    }


def _pool_status(pool: models.Pool) -> dict[str, Any]:
    entry = _status(
        pool,
        members=[
            _status(m, address=m.ip_address, protocol_port=m.protocol_port) for m in _live(pool.members)
        ],
    )
    monitor = pool.health_monitor
    if monitor is not None and monitor.provisioning_status != c.DELETED:
        # Upstream's server names this key `health_monitor` (its status type); the api-ref
        # example's `healthmonitor` is not what it sends.
        entry["health_monitor"] = _status(monitor, type=monitor.type)
    return entry


def status_tree(lb: models.LoadBalancer) -> dict[str, Any]:
    """`{"id", "name", statuses..., "listeners": [{..., "pools": [{..., "members"}]}]}`."""
    return _status(
        lb,
        listeners=[
            _status(listener, pools=[_pool_status(p) for p in _pools_of(listener)])
            for listener in _live(lb.listeners)
        ],
    )
