"""Leases: which worker may touch a load balancer, decided by one conditional UPDATE.

A worker claims an LB by writing its owner id and an expiry into the LB row, on condition
that nobody else holds an unexpired lease. It renews the lease while it works and clears it
when done. A worker that dies simply stops renewing: once the lease expires any worker
may claim the LB again. The same columns carry the back-off after a failed attempt: the
owner is cleared but the expiry is set in the future, so nobody claims the LB before then.

Timestamps are naive UTC from this host's clock: hosts sharing a database must keep their
clocks within a small fraction of `[reconciler] lease_seconds` of each other.
"""

from __future__ import annotations

import datetime
import os
import secrets
import socket
import threading
import time
from typing import Any

from sqlalchemy import bindparam, or_, select, update

from ostia.common import constants as c
from ostia.db import models
from ostia.db.session import Database

LB = models.LoadBalancer


class LeaseLost(Exception):
    """Another worker holds the load balancer now: stop touching it."""

    def __init__(self, lb_id: str) -> None:
        super().__init__(f"lease on load balancer {lb_id} was lost")
        self.lb_id = lb_id


def new_owner_id() -> str:
    """host:pid:random, unique per worker process start (fits lease_owner's 64 chars)."""
    host = socket.gethostname()[:40]
    return f"{host}:{os.getpid()}:{secrets.token_hex(4)}"


def _free(now: Any) -> Any:
    return or_(LB.lease_expires.is_(None), LB.lease_expires < now)


def _after(seconds: float) -> tuple[datetime.datetime, datetime.datetime]:
    now = models.utcnow()
    return now, now + datetime.timedelta(seconds=seconds)


# Built once (building and compiling the statement cost more than running it).
_CLAIM = (
    update(LB)
    .where(
        LB.id == bindparam("lb_id"),
        LB.provisioning_status.in_(c.PENDING_STATUSES),
        or_(_free(bindparam("now")), LB.lease_owner == bindparam("owner")),
    )
    .values(
        lease_owner=bindparam("new_owner"),
        lease_expires=bindparam("expires"),
        reconcile_attempts=LB.reconcile_attempts + 1,
    )
)


def claim(db: Database, lb_id: str, owner: str, seconds: float) -> bool:
    """Take the lease of a PENDING_* load balancer; True if this owner now holds it.

    Counts the attempt: `reconcile_attempts` is incremented with the claim, so attempts
    cut short by a crash count too and a load balancer that kills its workers ends in ERROR.
    """
    now, expires = _after(seconds)
    params = {"lb_id": lb_id, "now": now, "owner": owner, "new_owner": owner, "expires": expires}
    with db.transaction() as session:
        result: Any = session.connection().execute(_CLAIM, params)
        return bool(result.rowcount)


def renew(db: Database, lb_id: str, owner: str, seconds: float) -> bool:
    """Push the expiry forward; False means the lease is no longer ours."""
    _, expires = _after(seconds)
    with db.transaction() as session:
        result: Any = session.execute(
            update(LB)
            .where(LB.id == lb_id, LB.lease_owner == owner)
            .values(lease_expires=expires)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)


def release(db: Database, lb_id: str, owner: str) -> bool:
    with db.transaction() as session:
        result: Any = session.execute(
            update(LB)
            .where(LB.id == lb_id, LB.lease_owner == owner)
            .values(lease_owner=None, lease_expires=None)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)


def defer(db: Database, lb_id: str, owner: str, delay: float, error: str) -> bool:
    """Give the lease up after a failed attempt, but let nobody retry for `delay` seconds."""
    _, not_before = _after(delay)
    with db.transaction() as session:
        result: Any = session.execute(
            update(LB)
            .where(LB.id == lb_id, LB.lease_owner == owner)
            .values(lease_owner=None, lease_expires=not_before, last_error=error[:2000])
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)


def claimable(db: Database, limit: int = 100) -> list[str]:
    """PENDING_* load balancers whose lease is free or expired, longest waiting first."""
    now = models.utcnow()
    with db.transaction() as session:
        rows = session.scalars(
            select(LB.id)
            .where(LB.provisioning_status.in_(c.PENDING_STATUSES), _free(now))
            .order_by(LB.lease_expires.is_not(None), LB.lease_expires, LB.updated_at)
            .limit(limit)
        )
        return list(rows)


class Lease:
    """A held lease: the reconciler checks it between steps; a renewer keeps it fresh."""

    def __init__(self, db: Database, lb_id: str, owner: str, seconds: float) -> None:
        self.db = db
        self.lb_id = lb_id
        self.owner = owner
        self.seconds = seconds
        self._lost = threading.Event()
        self._renewed_at = time.monotonic()
        self._lock = threading.Lock()
        self._retired = False

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def retire(self) -> None:
        """The holder is about to give the lease up itself: renew no more.

        Waits for a renewal in progress, so that none races the final transaction (which
        clears the owner and would make that renewal look like a lost lease).
        """
        with self._lock:
            self._retired = True

    def renew(self) -> bool:
        """Renew now; a failed renewal marks the lease lost for good."""
        with self._lock:
            if self._lost.is_set():
                return False
            if self._retired:
                return True
            try:
                ok = renew(self.db, self.lb_id, self.owner, self.seconds)
            except Exception:
                # The database is unreachable: we cannot prove we still hold the LB, but
                # nobody else can claim it before the expiry either; try again later.
                if time.monotonic() - self._renewed_at > self.seconds:
                    self._lost.set()
                return not self._lost.is_set()
            if ok:
                self._renewed_at = time.monotonic()
            else:
                self._lost.set()
            return ok

    def renew_if_due(self) -> bool:
        """Renew when a third of the lease has passed (the renewer's tick)."""
        if time.monotonic() - self._renewed_at >= self.seconds / 3:
            return self.renew()
        return not self.lost

    def check(self) -> None:
        """Raise LeaseLost if the lease is gone or has run out without renewal."""
        if self._lost.is_set():
            raise LeaseLost(self.lb_id)
        if time.monotonic() - self._renewed_at >= self.seconds:
            # Our own view says it expired: another worker may hold it by now.
            if not self.renew():
                raise LeaseLost(self.lb_id)
