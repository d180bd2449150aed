"""One log line per operating status change the health manager writes (never per heartbeat)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from ostia.controller.health.status import LoadBalancerView, StatusChanges

LOG = logging.getLogger("ostia.controller.health.status")


def log_flush(derived: Iterable[tuple[str, LoadBalancerView, Any, StatusChanges]]) -> None:
    """Log a flush's changes once per load balancer (both amphorae of a pair report it)."""
    by_lb: dict[str, tuple[LoadBalancerView, StatusChanges]] = {}
    for _amphora_id, view, _key, changes in derived:
        if changes:
            merged = by_lb.setdefault(view.id, (view, StatusChanges()))[1]
            merged.merge(changes)
    for view, changes in by_lb.values():
        log_changes(view, changes)


def log_changes(view: LoadBalancerView, changes: StatusChanges) -> None:
    """Log each change in `changes` against the statuses `view` still holds (the old ones)."""
    if view.id in changes.load_balancer:
        _line("load balancer", view.id, view.operating_status, changes.load_balancer[view.id])
    for listener in view.listeners:
        if listener.id in changes.listener:
            _line("listener", listener.id, listener.operating_status, changes.listener[listener.id], view.id)
    for pool in view.pools:
        if pool.id in changes.pool:
            _line("pool", pool.id, pool.operating_status, changes.pool[pool.id], view.id)
        for member in pool.members:
            if member.id in changes.member:
                _line(
                    "member",
                    member.id,
                    member.operating_status,
                    changes.member[member.id],
                    view.id,
                    f" of pool {pool.id}",
                )


def _line(kind: str, ident: str, old: str, new: str, lb_id: str | None = None, where: str = "") -> None:
    owner = f"{where} of load balancer {lb_id}" if lb_id else where
    # A member or listener going down is what an operator looks for first.
    level = logging.WARNING if new in ("ERROR", "OFFLINE") and old == "ONLINE" else logging.INFO
    LOG.log(level, "%s %s%s: operating status %s -> %s", kind, ident, owner, old, new)
