"""Octavia's provisioning status transitions, in one place for the API and the worker.

Into PENDING_*: every write under a load balancer takes it with one conditional UPDATE
(for example `ACTIVE` -> `PENDING_UPDATE`), so two concurrent writers can never both
succeed, whatever the database; the API answers 409 when a transition is refused
(`ostia.api.status`), the worker and the health manager try again later.

Out of PENDING_*: the graph settles once its data plane matches the DB, shared by the noop
provider (which has no data plane, so it settles at once) and the worker (which settles
after the amphorae run the configuration), or goes to ERROR when retries ran out.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from sqlalchemy import bindparam, case, exists, null, update
from sqlalchemy.orm import Session

from ostia.common import constants as c
from ostia.common import request_id
from ostia.db import models
from ostia.db.failover_marks import mark_for_failover

# One departure from upstream, so that a tenant can repair what the data plane refused:
# updating or deleting a child (listener, pool, member, monitor, L7 policy or rule) is also
# allowed while the load balancer is in ERROR. Upstream answers 409 there and leaves only a
# cascade delete or an admin failover; its own workers avoid the dead end by putting the LB
# back to ACTIVE when a child change fails, which a level-triggered reconciler that applies
# the whole graph cannot honestly do.
CHILD_CREATE_FROM = (c.ACTIVE,)
CHILD_REPAIR_FROM = (c.ACTIVE, c.ERROR)
UPDATE_FROM = (c.ACTIVE,)
DELETE_FROM = (c.ACTIVE, c.ERROR)
FAILOVER_FROM = (c.ACTIVE, c.ERROR)


def _moved(target: Any, now: Any, change_request_id: Any) -> dict[str, Any]:
    """What a move into PENDING_* sets besides the status."""
    return {
        "provisioning_status": target,
        "updated_at": now,
        "reconcile_attempts": 0,
        "last_error": None,
        "request_id": change_request_id,
    }


# Built once; `allowed` expands to the statuses of each call.
_MOVE = (
    update(models.LoadBalancer)
    .where(
        models.LoadBalancer.id == bindparam("lb_id"),
        models.LoadBalancer.provisioning_status.in_(bindparam("allowed", expanding=True)),
    )
    .values(_moved(bindparam("target"), bindparam("now"), bindparam("change_request_id")))
)


def move_load_balancer(
    session: Session, lb_id: str, allowed: tuple[str, ...], target: str, *, synchronize: bool = True
) -> bool:
    """`allowed` -> `target` in one conditional UPDATE; False when the LB was in no
    `allowed` status (busy, or gone). The attempt counter and last error start afresh,
    and the worker's lines for the change carry the current request id. `synchronize`:
    bring a load balancer object the session holds up to date; a caller working on rows
    only, with no object loaded, runs the bare statement instead."""
    params = {
        "lb_id": lb_id,
        "allowed": list(allowed),
        "target": target,
        "now": models.utcnow(),
        "change_request_id": request_id.current(),
    }
    result: Any
    if not synchronize:
        result = session.connection().execute(_MOVE, params)
        return bool(result.rowcount)
    # The values themselves, not bound parameters: the session copies them onto the object.
    statement = (
        update(models.LoadBalancer)
        .where(models.LoadBalancer.id == lb_id, models.LoadBalancer.provisioning_status.in_(allowed))
        .values(_moved(target, params["now"], params["change_request_id"]))
        .execution_options(synchronize_session="fetch")
    )
    result = session.execute(statement)
    return bool(result.rowcount)


def begin_child_change(session: Session, lb_id: str, *, repair: bool = False) -> bool:
    """Child create: ACTIVE -> PENDING_UPDATE; child update or delete (`repair`): ACTIVE
    or ERROR -> PENDING_UPDATE."""
    allowed = CHILD_REPAIR_FROM if repair else CHILD_CREATE_FROM
    return move_load_balancer(session, lb_id, allowed, c.PENDING_UPDATE)


def begin_update(session: Session, lb_id: str, *, synchronize: bool = True) -> bool:
    """LB update: ACTIVE -> PENDING_UPDATE."""
    return move_load_balancer(session, lb_id, UPDATE_FROM, c.PENDING_UPDATE, synchronize=synchronize)


def begin_delete(session: Session, lb_id: str, *, synchronize: bool = True) -> bool:
    """LB delete: ACTIVE or ERROR -> PENDING_DELETE."""
    return move_load_balancer(session, lb_id, DELETE_FROM, c.PENDING_DELETE, synchronize=synchronize)


def request_failover(session: Session, lb_id: str, amphora_id: str | None = None) -> bool:
    """LB failover (or of its amphora `amphora_id`): ACTIVE or ERROR -> PENDING_UPDATE,
    and the amphorae to replace marked in the same transaction; False when the LB is busy
    (PENDING_*) or gone, and then nothing is marked."""
    if not move_load_balancer(session, lb_id, FAILOVER_FROM, c.PENDING_UPDATE):
        return False
    mark_for_failover(session, lb_id, amphora_id)
    return True


def mark_pending_update(*objects: Any) -> None:
    """ACTIVE or ERROR objects a change involves go PENDING_UPDATE: the worker applies
    them again, and settles them ACTIVE or, refused again, ERROR."""
    for obj in objects:
        if obj is not None and obj.provisioning_status in (c.ACTIVE, c.ERROR):
            obj.provisioning_status = c.PENDING_UPDATE


# ERROR too: settling means the data plane runs the whole stored graph, so an object that
# a refused configuration had left in ERROR is provisioned again.
_SETTLED = {c.PENDING_CREATE: c.ACTIVE, c.PENDING_UPDATE: c.ACTIVE, c.ERROR: c.ACTIVE}


class Transition(NamedTuple):
    """One object's provisioning status change, for the worker's log."""

    kind: str  # "load balancer", "listener", ...
    id: str
    old: str
    new: str  # DELETED for objects removed from the database


def _kind(obj: object) -> str:
    return {
        "LoadBalancer": "load balancer",
        "HealthMonitor": "health monitor",
        "L7Policy": "l7policy",
        "L7Rule": "l7rule",
    }.get(type(obj).__name__, type(obj).__name__.lower())


def _record(changes: list[Transition], obj: object, new: str) -> None:
    old = obj.provisioning_status  # type: ignore[attr-defined]
    if old != new:
        changes.append(Transition(_kind(obj), obj.id, old, new))  # type: ignore[attr-defined]


def _settle(obj: object, changes: list[Transition]) -> None:
    status = obj.provisioning_status  # type: ignore[attr-defined]
    if status in _SETTLED:
        _record(changes, obj, _SETTLED[status])
        obj.provisioning_status = _SETTLED[status]  # type: ignore[attr-defined]


def _remove(session: Session, obj: object, changes: list[Transition]) -> None:
    _record(changes, obj, c.DELETED)
    session.delete(obj)


def settle_load_balancer(session: Session, lb: models.LoadBalancer) -> list[Transition]:
    """ACTIVE for everything pending create/update, gone for everything pending delete.

    A load balancer pending delete loses its whole tree and becomes DELETED. Returns what
    changed, load balancer last.
    """
    changes: list[Transition] = []
    if lb.provisioning_status == c.PENDING_DELETE:
        for listener in list(lb.listeners):
            session.delete(listener)
        for pool in list(lb.pools):
            session.delete(pool)
        _record(changes, lb, c.DELETED)
        lb.provisioning_status = c.DELETED
        lb.operating_status = c.OFFLINE
        lb.lease_owner = None
        lb.lease_expires = None
        return changes
    for listener in list(lb.listeners):
        if listener.provisioning_status == c.PENDING_DELETE:
            _remove(session, listener, changes)
            continue
        _settle(listener, changes)
        policies_changed = False
        for policy in list(listener.l7policies):
            if policy.provisioning_status == c.PENDING_DELETE:
                # Delete before unlinking: the other order makes SQLAlchemy's orphan
                # cascade and the explicit delete collide when the policy's rules flush
                # ("Failed to add object to the flush context").
                _remove(session, policy, changes)
                listener.l7policies.remove(policy)
                policies_changed = True
                continue
            _settle(policy, changes)
            for rule in list(policy.rules):
                if rule.provisioning_status == c.PENDING_DELETE:
                    policy.rules.remove(rule)
                    _remove(session, rule, changes)
                else:
                    _settle(rule, changes)
        if policies_changed:
            renumber_l7policies(listener)
    for pool in list(lb.pools):
        if pool.provisioning_status == c.PENDING_DELETE:
            for listener in pool.listeners:
                listener.default_pool_id = None
            _remove(session, pool, changes)
            continue
        _settle(pool, changes)
        monitor = pool.health_monitor
        if monitor is not None:
            if monitor.provisioning_status == c.PENDING_DELETE:
                pool.health_monitor = None
                _remove(session, monitor, changes)
            else:
                _settle(monitor, changes)
                # A monitor has no health of its own: upstream reports it ONLINE while it
                # is enabled and running, OFFLINE when disabled.
                monitor.operating_status = c.ONLINE if monitor.enabled else c.OFFLINE
        for member in list(pool.members):
            if member.provisioning_status == c.PENDING_DELETE:
                pool.members.remove(member)
                _remove(session, member, changes)
            else:
                _settle(member, changes)
    _settle(lb, changes)
    if lb.provisioning_status == c.ACTIVE:
        lb.reconcile_attempts = 0
        lb.last_error = None
    return changes


_LB = models.LoadBalancer
_STATUS = _LB.provisioning_status
_DELETING = _STATUS == c.PENDING_DELETE
_ACTIVATING = _STATUS.in_([*_SETTLED, c.ACTIVE])


def _when_deleting(value: Any, column: Any) -> Any:
    return case((_DELETING, value), else_=column)


def _when_activating(value: Any, column: Any) -> Any:
    return case((_ACTIVATING, value), else_=column)


# Built once: a load balancer without listeners and pools settled in one UPDATE. Every
# value is computed from the row as it was; provisioning_status is assigned last, in case
# a database assigns left to right (MySQL does).
_SETTLE_CHILDLESS = (
    update(_LB)
    .where(
        _LB.id == bindparam("lb_id"),
        ~exists().where(models.Listener.load_balancer_id == _LB.id),
        ~exists().where(models.Pool.load_balancer_id == _LB.id),
    )
    .ordered_values(
        (_LB.operating_status, _when_deleting(c.OFFLINE, _LB.operating_status)),
        (_LB.lease_owner, _when_deleting(null(), _LB.lease_owner)),
        (_LB.lease_expires, _when_deleting(null(), _LB.lease_expires)),
        (_LB.reconcile_attempts, _when_activating(0, _LB.reconcile_attempts)),
        (_LB.last_error, _when_activating(null(), _LB.last_error)),
        (
            _LB.updated_at,
            case((_STATUS.in_([*_SETTLED, c.PENDING_DELETE]), bindparam("now")), else_=_LB.updated_at),
        ),
        (_STATUS, case((_DELETING, c.DELETED), (_STATUS.in_(list(_SETTLED)), c.ACTIVE), else_=_STATUS)),
    )
)


def settle_row(row: dict[str, Any], now: Any = None) -> None:
    """`settle_load_balancer` on the column values of a load balancer without children
    (`row`, changed in place; `now`: the time stamped on a change, the current one by
    default): a load balancer inserted settled, or moved and settled in one UPDATE."""
    status = row["provisioning_status"]
    if status == c.PENDING_DELETE:
        row.update(provisioning_status=c.DELETED, operating_status=c.OFFLINE)
        row.update(lease_owner=None, lease_expires=None)
    elif status in _SETTLED:
        row.update(provisioning_status=c.ACTIVE, updated_at=models.utcnow() if now is None else now)
    if row["provisioning_status"] == c.ACTIVE:
        row.update(reconcile_attempts=0, last_error=None)


def settle_new_load_balancer(row: dict[str, Any]) -> None:
    """A load balancer about to be inserted without children (`row`: its column values)
    is stored settled, with no UPDATE after."""
    settle_row(row)


@functools.cache
def _move_and_settle(allowed: tuple[str, ...], target: str, changed: tuple[str, ...] = ()) -> Any:
    """The UPDATE of `begin_and_settle`, built once per kind of move and changed columns."""
    values = _moved(target, bindparam("now"), bindparam("change_request_id"))
    settle_row(values, bindparam("now"))
    values.update({name: bindparam(f"new_{name}") for name in changed})
    return (
        update(_LB)
        .where(
            _LB.id == bindparam("lb_id"),
            _STATUS.in_(allowed),
            ~exists().where(models.Listener.load_balancer_id == _LB.id),
            ~exists().where(models.Pool.load_balancer_id == _LB.id),
        )
        .values(values)
    )


def begin_and_settle(
    session: Session,
    lb_id: str,
    allowed: tuple[str, ...],
    target: str,
    changes: dict[str, Any] | None = None,
    now: Any = None,
) -> bool:
    """`move_load_balancer` into `target` and `settle_load_balancer` after it in one
    UPDATE, on rows, for a load balancer without listeners and pools whose provider
    completes a change once it is stored (noop): no one could see the pending status
    between the two. `changes`: other columns the same UPDATE writes (a PUT's fields, one
    statement fewer); `now`: the time stamped, the current one by default. False, and
    nothing done, when the load balancer is in no `allowed` status, has children, or is
    gone: the caller then takes the two steps."""
    params = {
        "lb_id": lb_id,
        "now": models.utcnow() if now is None else now,
        "change_request_id": request_id.current(),
    }
    changes = changes or {}
    params.update({f"new_{name}": value for name, value in changes.items()})
    result: Any = session.connection().execute(_move_and_settle(allowed, target, tuple(changes)), params)
    return bool(result.rowcount)


def settle_childless_load_balancer(session: Session, lb_id: str) -> bool:
    """`settle_load_balancer` in one UPDATE for a load balancer without listeners and
    pools, on rows (objects the session holds are not brought up to date); False, and
    nothing done, when it has any (or is gone).

    What the API's noop provider settles after most writes; it must stay the same as
    `settle_load_balancer` on a load balancer alone (a test compares them).
    """
    result: Any = session.connection().execute(_SETTLE_CHILDLESS, {"lb_id": lb_id, "now": models.utcnow()})
    return bool(result.rowcount)


def renumber_l7policies(listener: models.Listener) -> None:
    """Keep a listener's policy positions contiguous from 1, in their current order."""
    live = [
        p
        for p in sorted(listener.l7policies, key=lambda p: p.position)
        if p.provisioning_status != c.PENDING_DELETE
    ]
    for index, policy in enumerate(live, start=1):
        if policy.position != index:
            policy.position = index


def place_l7policy(listener: models.Listener, policy: models.L7Policy, position: int) -> None:
    """Put `policy` at `position` (1-based) among the listener's live policies.

    As upstream's ordering list does: the others shift down to make room, a position past
    the end appends, and afterwards the live policies are numbered 1..N again.
    """
    others = sorted(
        (
            p
            for p in listener.l7policies
            if p is not policy and p.provisioning_status not in (c.PENDING_DELETE, c.DELETED)
        ),
        key=lambda p: p.position,
    )
    others.insert(min(max(position, 1) - 1, len(others)), policy)
    for index, member in enumerate(others, start=1):
        if member.position != index:
            member.position = index
    if policy not in listener.l7policies:
        listener.l7policies.append(policy)


def mark_graph_error(lb: models.LoadBalancer, reason: str) -> list[Transition]:
    """Objects still pending after retries ran out go to ERROR, the LB with them."""
    changes: list[Transition] = []

    def fail(obj: object) -> None:
        if obj.provisioning_status in c.PENDING_STATUSES:  # type: ignore[attr-defined]
            _record(changes, obj, c.ERROR)
            obj.provisioning_status = c.ERROR  # type: ignore[attr-defined]

    lb.last_error = reason[:2000]
    for listener in lb.listeners:
        fail(listener)
        for policy in listener.l7policies:
            fail(policy)
            for rule in policy.rules:
                fail(rule)
    for pool in lb.pools:
        fail(pool)
        if pool.health_monitor is not None:
            fail(pool.health_monitor)
        for member in pool.members:
            fail(member)
    _record(changes, lb, c.ERROR)
    lb.provisioning_status = c.ERROR
    return changes
