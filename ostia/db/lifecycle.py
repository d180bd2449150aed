"""Moving a load balancer's graph out of PENDING_* once its data plane matches the DB.

Shared by the noop provider (which has no data plane, so it settles at once) and the
worker (which settles after the amphorae run the configuration).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ostia.common import constants as c
from ostia.db import models

_SETTLED = {c.PENDING_CREATE: c.ACTIVE, c.PENDING_UPDATE: c.ACTIVE}


def _settle(obj: object) -> None:
    status = obj.provisioning_status  # type: ignore[attr-defined]
    if status in _SETTLED:
        obj.provisioning_status = _SETTLED[status]  # type: ignore[attr-defined]


def settle_load_balancer(session: Session, lb: models.LoadBalancer) -> None:
    """ACTIVE for everything pending create/update, gone for everything pending delete.

    A load balancer pending delete loses its whole tree and becomes DELETED.
    """
    if lb.provisioning_status == c.PENDING_DELETE:
        for listener in list(lb.listeners):
            session.delete(listener)
        for pool in list(lb.pools):
            session.delete(pool)
        lb.provisioning_status = c.DELETED
        lb.operating_status = c.OFFLINE
        lb.lease_owner = None
        lb.lease_expires = None
        return
    for listener in list(lb.listeners):
        if listener.provisioning_status == c.PENDING_DELETE:
            session.delete(listener)
            continue
        _settle(listener)
        policies_changed = False
        for policy in list(listener.l7policies):
            if policy.provisioning_status == c.PENDING_DELETE:
                # Delete before unlinking: the other order makes SQLAlchemy's orphan
                # cascade and the explicit delete collide when the policy's rules flush
                # ("Failed to add object to the flush context").
                session.delete(policy)
                listener.l7policies.remove(policy)
                policies_changed = True
                continue
            _settle(policy)
            for rule in list(policy.rules):
                if rule.provisioning_status == c.PENDING_DELETE:
                    policy.rules.remove(rule)
                    session.delete(rule)
                else:
                    _settle(rule)
        if policies_changed:
            renumber_l7policies(listener)
    for pool in list(lb.pools):
        if pool.provisioning_status == c.PENDING_DELETE:
            for listener in pool.listeners:
                listener.default_pool_id = None
            session.delete(pool)
            continue
        _settle(pool)
        monitor = pool.health_monitor
        if monitor is not None:
            if monitor.provisioning_status == c.PENDING_DELETE:
                pool.health_monitor = None
                session.delete(monitor)
            else:
                _settle(monitor)
                # A monitor has no health of its own: upstream reports it ONLINE while it
                # is enabled and running, OFFLINE when disabled.
                monitor.operating_status = c.ONLINE if monitor.enabled else c.OFFLINE
        for member in list(pool.members):
            if member.provisioning_status == c.PENDING_DELETE:
                pool.members.remove(member)
                session.delete(member)
            else:
                _settle(member)
    _settle(lb)
    if lb.provisioning_status == c.ACTIVE:
        lb.reconcile_attempts = 0
        lb.last_error = None


def renumber_l7policies(listener: models.Listener) -> None:
    """Keep a listener's policy positions contiguous from 1, in their current order."""
    live = [p for p in sorted(listener.l7policies, key=lambda p: p.position)
            if p.provisioning_status != c.PENDING_DELETE]
    for index, policy in enumerate(live, start=1):
        if policy.position != index:
            policy.position = index


def place_l7policy(listener: models.Listener, policy: models.L7Policy, position: int) -> None:
    """Put `policy` at `position` (1-based) among the listener's live policies.

    As upstream's ordering list does: the others shift down to make room, a position past
    the end appends, and afterwards the live policies are numbered 1..N again.
    """
    others = sorted(
        (p for p in listener.l7policies
         if p is not policy and p.provisioning_status not in (c.PENDING_DELETE, c.DELETED)),
        key=lambda p: p.position,
    )
    others.insert(min(max(position, 1) - 1, len(others)), policy)
    for index, member in enumerate(others, start=1):
        if member.position != index:
            member.position = index
    if policy not in listener.l7policies:
        listener.l7policies.append(policy)


def mark_graph_error(lb: models.LoadBalancer, reason: str) -> None:
    """Objects still pending after retries ran out go to ERROR, the LB with them."""
    lb.last_error = reason[:2000]
    lb.provisioning_status = c.ERROR
    for listener in lb.listeners:
        if listener.provisioning_status in c.PENDING_STATUSES:
            listener.provisioning_status = c.ERROR
        for policy in listener.l7policies:
            if policy.provisioning_status in c.PENDING_STATUSES:
                policy.provisioning_status = c.ERROR
            for rule in policy.rules:
                if rule.provisioning_status in c.PENDING_STATUSES:
                    rule.provisioning_status = c.ERROR
    for pool in lb.pools:
        if pool.provisioning_status in c.PENDING_STATUSES:
            pool.provisioning_status = c.ERROR
        monitor = pool.health_monitor
        if monitor is not None and monitor.provisioning_status in c.PENDING_STATUSES:
            monitor.provisioning_status = c.ERROR
        for member in pool.members:
            if member.provisioning_status in c.PENDING_STATUSES:
                member.provisioning_status = c.ERROR
