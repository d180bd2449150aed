"""Reconcile one load balancer: claim it, drive real state to the stored one, settle it.

One attempt = claim the lease (which counts the attempt), read the graph in a short
transaction, run the steps with no transaction open, then settle in a short transaction
that first checks the lease is still ours. A failed attempt gives the lease back with a
back-off (nobody retries before it ends); after `[reconciler] max_attempts` attempts, or at
once for errors that retrying cannot cure, the pending objects go to ERROR with the reason.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import threading

from oslo_config import cfg
from sqlalchemy import select
from sqlalchemy.orm import Session

from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.common import request_id
from ostia.controller.worker import failover, leases, settle_rows, steps
from ostia.controller.worker.drivers import WorkerDrivers
from ostia.controller.worker.graph import AmphoraState, Snapshot, read_snapshot
from ostia.controller.worker.haproxy.render import HaproxyRenderError
from ostia.controller.worker.leases import Lease, LeaseLost
from ostia.db import lifecycle, models
from ostia.db.session import Database

LOG = logging.getLogger(__name__)

# Errors of the stored graph or of the deployment that a retry cannot cure.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    steps.PermanentError,
    HaproxyRenderError,
    exc.AgentInvalidRequest,
    exc.CertificateNotFound,
    exc.InvalidCertificate,
)


class Outcome(enum.Enum):
    SKIPPED = "skipped"  # not claimable: not pending, held by another worker, backing off
    SETTLED = "settled"  # ACTIVE or DELETED
    RETRY = "retry"  # failed; retry after `retry_in` seconds
    FAILED = "failed"  # ERROR
    LOST = "lost"  # another worker took the lease meanwhile


@dataclasses.dataclass(frozen=True)
class Result:
    outcome: Outcome
    retry_in: float | None = None
    error: str | None = None


def retry_delay(conf: cfg.ConfigOpts, attempt: int) -> float:
    """Exponential back-off from retry_initial_delay, capped at retry_max_delay."""
    options = conf.reconciler
    return float(min(options.retry_initial_delay * 2 ** max(attempt - 1, 0), options.retry_max_delay))


def describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"


class Reconciler:
    """Reconciles load balancers on behalf of one worker identity (the lease owner)."""

    def __init__(
        self, conf: cfg.ConfigOpts, db: Database, drivers: WorkerDrivers, owner: str | None = None
    ) -> None:
        self.conf = conf
        self.db = db
        self.drivers = drivers
        self.owner = owner or leases.new_owner_id()
        self._held: dict[str, Lease] = {}
        self._held_lock = threading.Lock()

    # -- leases held right now, for the renewer ----------------------------------------

    def held_leases(self) -> list[Lease]:
        with self._held_lock:
            return list(self._held.values())

    def _hold(self, lease: Lease) -> None:
        with self._held_lock:
            self._held[lease.lb_id] = lease

    def _drop(self, lease: Lease) -> None:
        with self._held_lock:
            if self._held.get(lease.lb_id) is lease:
                del self._held[lease.lb_id]

    # -- one attempt ------------------------------------------------------------------------

    def reconcile(self, lb_id: str) -> Result:
        """One attempt at `lb_id`; SKIPPED at once if another worker holds it."""
        seconds = self.conf.reconciler.lease_seconds
        if not leases.claim(self.db, lb_id, self.owner, seconds):
            return Result(Outcome.SKIPPED)
        lease = Lease(self.db, lb_id, self.owner, seconds)
        self._hold(lease)
        try:
            return self._attempt(lease)
        finally:
            self._drop(lease)

    def _attempt(self, lease: Lease) -> Result:
        lb_id = lease.lb_id
        snapshot = read_snapshot(self.db, lb_id)
        if snapshot is None or snapshot.status not in c.PENDING_STATUSES:
            lease.retire()
            leases.release(self.db, lb_id, self.owner)
            return Result(Outcome.SKIPPED)
        # Log lines of this attempt carry the id of the request that caused the work.
        with request_id.bound(snapshot.lb.request_id):
            return self._work(lease, snapshot)

    def _work(self, lease: Lease, snapshot: Snapshot) -> Result:
        lb_id = lease.lb_id
        max_attempts = self.conf.reconciler.max_attempts
        if snapshot.attempt > max_attempts:
            reason = (
                f"gave up after {max_attempts} attempts; last error: "
                f"{snapshot.lb.last_error or 'attempt interrupted'}"
            )
            return self._fail(lease, reason)
        ctx = steps.StepContext(self.conf, self.db, self.drivers, snapshot, lease.check)
        LOG.info("reconciling load balancer %s (%s, attempt %d)", lb_id, snapshot.status, snapshot.attempt)
        try:
            if snapshot.status == c.PENDING_DELETE:
                steps.tear_down(ctx)
                serving: tuple[AmphoraState, ...] = ()
            else:
                serving = steps.converge(ctx).serving
            lease.check()
            self._settle(lease, serving, snapshot.lb)
        except LeaseLost:
            LOG.warning("lost the lease on load balancer %s; leaving it to its new owner", lb_id)
            return Result(Outcome.LOST)
        except PERMANENT_ERRORS as error:
            return self._fail(lease, describe(error))
        except Exception as error:  # noqa: BLE001 - every driver failure is retried
            reason = describe(error)
            if snapshot.attempt >= max_attempts:
                return self._fail(lease, f"after {snapshot.attempt} attempts: {reason}")
            delay = retry_delay(self.conf, snapshot.attempt)
            LOG.warning(
                "load balancer %s: attempt %d failed (%s); retrying in %.1f s",
                lb_id,
                snapshot.attempt,
                reason,
                delay,
                exc_info=LOG.isEnabledFor(10),
            )
            lease.retire()
            leases.defer(self.db, lb_id, self.owner, delay, reason)
            return Result(Outcome.RETRY, retry_in=delay, error=reason)
        LOG.info("load balancer %s settled", lb_id)
        return Result(Outcome.SETTLED)

    def _settle(self, lease: Lease, serving: tuple[AmphoraState, ...], graph: models.LoadBalancer) -> None:
        """Statuses out of PENDING_*, amphorae ALLOCATED, lease cleared: one transaction,
        on rows when the snapshot's `graph` has nothing to remove (settle_rows)."""
        lease.retire()
        if settle_rows.applies(graph):
            with self.db.transaction() as session:
                transitions = settle_rows.settle(session, graph, self.owner, [amp.id for amp in serving])
            _log_transitions(transitions)
            return
        with self.db.transaction() as session:
            lb = self._locked_lb(session, lease)
            for amp in serving:
                row = session.get(models.Amphora, amp.id)
                if row is not None and row.status in (c.PENDING_CREATE, c.AMPHORA_BOOTING):
                    row.status = c.AMPHORA_ALLOCATED
            transitions = lifecycle.settle_load_balancer(session, lb)
            lb.lease_owner = None
            lb.lease_expires = None
        _log_transitions(transitions)

    def _fail(self, lease: Lease, reason: str) -> Result:
        LOG.error("load balancer %s goes to ERROR: %s", lease.lb_id, reason)
        try:
            lease.check()
            # A failover cut short must not leave two half-built amphorae behind.
            failover.settle_failed_failover(self.db, self.drivers, lease.lb_id)
        except LeaseLost:
            return Result(Outcome.LOST)
        except Exception:  # noqa: BLE001 - the ERROR status matters more than the cleanup
            LOG.exception("load balancer %s: could not settle its amphorae", lease.lb_id)
        lease.retire()
        try:
            with self.db.transaction() as session:
                lb = self._locked_lb(session, lease)
                transitions = lifecycle.mark_graph_error(lb, reason)
                lb.lease_owner = None
                lb.lease_expires = None
        except LeaseLost:
            return Result(Outcome.LOST)
        _log_transitions(transitions, reason)
        return Result(Outcome.FAILED, error=reason)

    def _locked_lb(self, session: Session, lease: Lease) -> models.LoadBalancer:
        """The LB row locked for this transaction, if our lease still holds it."""
        LB = models.LoadBalancer
        # Lock the bare row first: FOR UPDATE may not cover the VIP's outer join.
        owner = session.execute(
            select(LB.lease_owner).where(LB.id == lease.lb_id).with_for_update()
        ).one_or_none()
        if owner is None or owner[0] != self.owner:
            raise LeaseLost(lease.lb_id)
        lb = session.get(LB, lease.lb_id)
        assert lb is not None
        return lb


def _log_transitions(transitions: list[lifecycle.Transition], reason: str | None = None) -> None:
    """One line per object that left PENDING_* (committed), with the reason for ERROR."""
    for change in transitions:
        if change.new == c.ERROR:
            LOG.error("%s %s: %s -> ERROR (%s)", change.kind, change.id, change.old, reason)
        else:
            LOG.info("%s %s: %s -> %s", change.kind, change.id, change.old, change.new)
