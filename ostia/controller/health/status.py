"""Operating status from one heartbeat, as Octavia derives it.

Pure functions over a small snapshot of the load balancer's graph, so that the rules can be
tested without a database and applied in batches. Only values that differ from the
stored ones are returned: the writer never touches a row that did not change.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from ostia.common import constants as c


@dataclasses.dataclass
class MemberView:
    id: str
    operating_status: str


@dataclasses.dataclass
class PoolView:
    id: str
    operating_status: str
    members: list[MemberView]


@dataclasses.dataclass
class ListenerView:
    id: str
    enabled: bool
    operating_status: str
    # Pools this listener sends traffic to (default and L7 redirect pools).
    pool_ids: list[str]


@dataclasses.dataclass
class LoadBalancerView:
    id: str
    enabled: bool
    provisioning_status: str
    operating_status: str
    listeners: list[ListenerView]
    pools: list[PoolView]

    @functools.cached_property
    def listener_ids(self) -> frozenset[str]:
        """Ids of the listeners heartbeats report (read after the view is complete)."""
        return frozenset(listener.id for listener in self.listeners)


@dataclasses.dataclass
class StatusChanges:
    """New operating statuses by table, only where they differ from what is stored."""

    load_balancer: dict[str, str] = dataclasses.field(default_factory=dict)
    listener: dict[str, str] = dataclasses.field(default_factory=dict)
    pool: dict[str, str] = dataclasses.field(default_factory=dict)
    member: dict[str, str] = dataclasses.field(default_factory=dict)

    def merge(self, other: StatusChanges) -> None:
        for name in ("load_balancer", "listener", "pool", "member"):
            getattr(self, name).update(getattr(other, name))

    def __len__(self) -> int:
        return len(self.load_balancer) + len(self.listener) + len(self.pool) + len(self.member)

    def __bool__(self) -> bool:
        return bool(self.load_balancer or self.listener or self.pool or self.member)


def _member_status(reported: str) -> str | None:
    """Map haproxy's server status to an operating status; None = leave unchanged."""
    value = reported.upper()
    if value.startswith("UP"):
        return c.ONLINE
    if value.startswith("DOWN"):
        return c.ERROR
    if value == "DRAIN":
        return c.DRAINING
    if value == "MAINT":
        return c.OFFLINE
    if value == "NO CHECK":
        return c.NO_MONITOR
    return None  # RESTARTING and anything unexpected keep the stored value


def derive(lb: LoadBalancerView, message: dict[str, Any]) -> StatusChanges:
    """Statuses of `lb`'s graph after `message`, as changes against the stored values."""
    changes = StatusChanges()
    listeners_msg = _dict(message.get("listeners"))
    pools_msg = _dict(message.get("pools"))
    lb_status = c.ONLINE if lb.enabled else c.OFFLINE

    # A listener the amphora should run but does not report (haproxy could not bind its
    # port, or refused its configuration) is that listener's failure: ERROR for it, the
    # load balancer DEGRADED. The amphora itself is alive: it sent this heartbeat.
    settled = lb.enabled and lb.provisioning_status not in c.PENDING_STATUSES
    for listener in lb.listeners:
        entry = listeners_msg.get(listener.id)
        reported = entry.get("status") if isinstance(entry, dict) else None
        if reported == "OPEN":
            new = c.ONLINE
        elif reported == "FULL":
            new = c.DEGRADED
        elif reported is None and listener.enabled and settled:
            new = c.ERROR
        else:
            new = c.OFFLINE
        if new in (c.DEGRADED, c.ERROR) and lb_status == c.ONLINE:
            lb_status = c.DEGRADED
        _note(changes.listener, listener.id, listener.operating_status, new)

    reported_pools = _pools_by_id(pools_msg)
    for pool in lb.pools:
        entry = reported_pools.get(pool.id)
        if entry is None:
            _note(changes.pool, pool.id, pool.operating_status, c.OFFLINE)
            for member in pool.members:
                if member.operating_status != c.NO_MONITOR:
                    _note(changes.member, member.id, member.operating_status, c.OFFLINE)
            continue
        pool_status = c.ONLINE
        if str(entry.get("status", "")).upper() == "DOWN":
            pool_status = c.ERROR
            lb_status = c.ERROR
        members_msg = _dict(entry.get("members"))
        for member in pool.members:
            reported_member = members_msg.get(member.id)
            if reported_member is None:
                if member.operating_status != c.NO_MONITOR:
                    _note(changes.member, member.id, member.operating_status, c.OFFLINE)
                continue
            new_member = _member_status(str(reported_member))
            if new_member is None:
                continue
            if new_member == c.ERROR:
                if pool_status == c.ONLINE:
                    pool_status = c.DEGRADED
                if lb_status == c.ONLINE:
                    lb_status = c.DEGRADED
            _note(changes.member, member.id, member.operating_status, new_member)
        _note(changes.pool, pool.id, pool.operating_status, pool_status)

    _note(changes.load_balancer, lb.id, lb.operating_status, lb_status)
    return changes


def _pools_by_id(pools_msg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Backends are keyed `<pool_id>:<listener_id>`; several listeners may share a pool.

    A pool shared by listeners is reported once per listener; the worst report wins.
    """
    result: dict[str, dict[str, Any]] = {}
    for key, entry in pools_msg.items():
        if not isinstance(entry, dict):
            continue
        pool_id = str(key).split(":", 1)[0]
        if pool_id not in result or str(entry.get("status", "")).upper() == "DOWN":
            merged = dict(entry)
            previous: dict[str, Any] = result.get(pool_id, {}).get("members") or {}
            members = _dict(entry.get("members"))
            merged["members"] = {**members, **previous} if previous else members
            result[pool_id] = merged
    return result


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _note(target: dict[str, str], ident: str, current: str, new: str) -> None:
    if current.upper() != new.upper():
        target[ident] = new
