"""Heartbeat intake: verify, drop what is bad, coalesce per amphora, flush in batches.

`HeartbeatProcessor.accept` runs on the event loop for every datagram and only decodes
and buffers; `flush` runs in a worker thread and applies everything buffered since the
previous flush: amphora health and changed operating statuses in one short transaction,
then statistics in another, written by their own thread. Several heartbeats of one
amphora in a batch collapse into its newest status with their statistics deltas summed.
Statistics are also summed across flushes for `stats_write_interval` seconds: written per
flush they were the largest share of the database's work (one row per amphora and
listener every heartbeat), while nobody reads them more often than every few seconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from oslo_config import cfg
from sqlalchemy import select

from ostia.common import constants as c
from ostia.common import heartbeat_format
from ostia.controller.health import collector, status_log, store
from ostia.controller.health import status as status_rules
from ostia.controller.health.graph_cache import GraphCache, status_part
from ostia.controller.health.metrics import HealthMetrics
from ostia.controller.health.sequence import SequenceState, judge, valid_boot_id
from ostia.db import models
from ostia.db.session import Database

LOG = logging.getLogger(__name__)
KEY_REFRESH_SECONDS = 1.0
ID_LENGTH = 36  # amphora ids are UUIDs (amphora_health.amphora_id)
MAX_SEQ = 2**31 - 1  # amphora_health.last_seq is an INTEGER
MAX_COUNTER = 2**62  # statistics deltas, with room to add them up
STATS_KEYS = ("rx", "tx", "conns", "totconns", "ereq")
# Amphorae without a load balancer that are expected to heartbeat: spares, and spares
# still starting (their agent reports before the row says READY).
SPARE_STATUSES = (c.AMPHORA_READY, c.PENDING_CREATE, c.AMPHORA_BOOTING)


# One listener's counters from one heartbeat: (listener id, rx, tx, conns, totconns, ereq).
ListenerCounters = tuple[str, int, int, int, int, int]


class PendingHeartbeat(NamedTuple):
    """An amphora's newest accepted heartbeat, waiting for the next flush.

    Only what the flush needs, and no parsed message: a batch holds one per amphora
    (10,000 at 10,000 heartbeats/s), and nested dicts kept that long were most of what the
    garbage collector traversed (a full collection every flush). A tuple of bytes, numbers
    and tuples, not a dataclass: the collector stops tracking such a tuple at its first
    young collection, so a waiting heartbeat is never promoted to the oldest generation,
    whose growth is what triggers full collections (10,000 a second did, every few
    seconds, each traversing the graph cache).
    """

    status: bytes  # graph_cache.status_part of the message
    recv_time: float
    version: int
    stats: tuple[ListenerCounters, ...]
    sequence: SequenceState
    # Datagrams folded into this entry (newest status wins, statistics deltas summed).
    datagrams: int = 1


def _stats_of(message: dict[str, Any]) -> tuple[ListenerCounters, ...]:
    listeners = message.get("listeners")
    if not isinstance(listeners, dict):
        return ()
    result = []
    for listener_id, entry in listeners.items():
        stats = entry.get("stats") if isinstance(entry, dict) else None
        if not isinstance(stats, dict):
            continue
        # A counter a BIGINT holds, else 0. Inline, without a call per key: this runs for
        # every listener of every datagram, and the calls were a sixth of the receive
        # path's time (py-spy at 10,000/s). `type(..) is int` leaves bools out.
        n = [v if type(v) is int and 0 <= v <= MAX_COUNTER else 0 for v in map(stats.get, STATS_KEYS)]
        result.append((str(listener_id), n[0], n[1], n[2], n[3], n[4]))
    return tuple(result)


def _fold_stats(
    newer: tuple[ListenerCounters, ...], older: tuple[ListenerCounters, ...], version: int
) -> tuple[ListenerCounters, ...]:
    """Statistics of two heartbeats of one amphora as one: version 3 deltas add up
    (`conns` is a level: the newer one's, 0 for a listener the newer one does not
    report); older versions carry totals, so the newer ones stand."""
    if version < 3 or not older:
        return newer
    by_id = {row[0]: row for row in newer}
    for lid, rx, tx, _conns, totconns, ereq in older:
        mine = by_id.get(lid)
        if mine is None:
            by_id[lid] = (lid, rx, tx, 0, totconns, ereq)
        else:
            by_id[lid] = (lid, mine[1] + rx, mine[2] + tx, mine[3], mine[4] + totconns, mine[5] + ereq)
    return tuple(by_id.values())


class HeartbeatProcessor:
    def __init__(
        self,
        conf: cfg.ConfigOpts,
        db: Database,
        metrics: HealthMetrics | None = None,
        on_orphan: Callable[[str, str | None], None] | None = None,
    ) -> None:
        self.conf = conf
        self.db = db
        self.metrics = metrics or HealthMetrics()
        self.on_orphan = on_orphan
        self._pending: dict[str, PendingHeartbeat] = {}
        self._sequences: dict[str, SequenceState] = {}
        self._lock = threading.Lock()
        self.graphs = GraphCache()
        # Statistics are written by their own thread, one batch after the other, while the
        # next flush already reads and derives: both wait on the database most of the time.
        self._stats_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="health-stats")
        # At most this many batches queued: a slower database slows flushes down instead
        # of growing memory.
        self._stats_slots = threading.BoundedSemaphore(2)
        # Statistics summed since the last write: by heartbeat version, then by
        # (listener, amphora); and when the oldest of them arrived (monotonic).
        self._stats_buffer: dict[int, dict[tuple[str, str], tuple[Any, ...]]] = {}
        self._stats_since: float | None = None
        self._keys: list[str] = []
        self._keys_read_at = -KEY_REFRESH_SECONDS
        self._seq_window = 1
        self._interval = 1.0

    def keys(self) -> list[str]:
        """The accepted HMAC keys, read from the configuration at most once a second.

        The keys are mutable (SIGHUP), but reading oslo.config options costs more than
        verifying a datagram, so the receiver does not do it per datagram.
        """
        now = time.monotonic()
        if now - self._keys_read_at >= KEY_REFRESH_SECONDS:
            hm = self.conf.health_manager
            self._keys = [key for key in (hm.heartbeat_key, hm.previous_heartbeat_key) if key]
            self._seq_window = hm.heartbeat_seq_window
            self._interval = float(hm.heartbeat_interval)
            self._keys_read_at = now
        return self._keys

    # ---- on the event loop -------------------------------------------------------------

    def accept(self, datagram: bytes, recv_time: float | None = None) -> bool:
        """Verify and buffer one datagram; False (and a counted reason) if dropped."""
        self.metrics.count("received")
        if len(datagram) > heartbeat_format.MAX_DATAGRAM:
            return self._drop("oversized")
        try:
            message = heartbeat_format.decode(datagram, self.keys())
        except heartbeat_format.BadSignature:
            return self._drop("bad_signature")
        except heartbeat_format.TruncatedHeartbeat:
            return self._drop("truncated")
        except heartbeat_format.BadCompression:
            return self._drop("bad_compression")
        except heartbeat_format.HeartbeatError:
            return self._drop("bad_payload")
        amphora_id, seq = message.get("id"), message.get("seq")
        boot_id = message.get(heartbeat_format.BOOT_ID_FIELD)
        # Checked against the columns they go to: a value the database refuses would fail
        # the whole batch, again at every retry.
        if (
            not isinstance(amphora_id, str)
            or not 0 < len(amphora_id) <= ID_LENGTH
            or not isinstance(seq, int)
            or isinstance(seq, bool)
            or not 0 <= seq <= MAX_SEQ
            or not (boot_id is None or valid_boot_id(boot_id))
        ):
            return self._drop("bad_payload")
        version = message.get("ver", 1)
        version = version if isinstance(version, int) else 1
        recv_time = recv_time or time.time()
        status, stats = status_part(message), _stats_of(message)
        with self._lock:
            verdict = judge(
                self._sequences.get(amphora_id), boot_id, seq, recv_time, self._seq_window, self._interval
            )
            if isinstance(verdict, str):
                return self._drop(verdict)
            self._sequences[amphora_id] = verdict
            previous = self._pending.get(amphora_id)
            datagrams = 1
            if previous is not None:
                datagrams += previous.datagrams
                stats = _fold_stats(stats, previous.stats, version)
            self._pending[amphora_id] = PendingHeartbeat(
                status, recv_time, version, stats, verdict, datagrams
            )
        return True

    def _drop(self, kind: str, amount: int = 1) -> bool:
        self.metrics.count(kind, amount)
        LOG.debug("dropped heartbeat: %s", kind)
        return False

    def load_last_seqs(self) -> int:
        """Replay protection across a restart: where each amphora's heartbeats stand.

        Every amphora that sent a boot id: a restarted agent announces itself with a new
        one, so even an old row refuses replays (of a dead amphora, say) without refusing
        the amphora. Upstream amphorae only from rows fresher than the heartbeat timeout:
        one that restarted while this manager was away for longer may be far below its
        old count, beyond the restart window, and must not be refused for that.
        """
        hm = self.conf.health_manager
        cutoff = models.utcnow() - datetime.timedelta(seconds=hm.heartbeat_timeout)
        health = models.AmphoraHealth
        with self.db.transaction() as session:
            rows = session.execute(
                select(
                    health.amphora_id,
                    health.last_seq,
                    health.last_update,
                    health.boot_id,
                    health.previous_boot_ids,
                ).where(
                    health.last_seq.is_not(None), (health.last_update >= cutoff) | health.boot_id.is_not(None)
                )
            ).all()
        with self._lock:
            for amphora_id, seq, last_update, boot_id, previous in rows:
                if seq is None:
                    continue
                heard_at = last_update.replace(tzinfo=datetime.UTC).timestamp()
                self._sequences.setdefault(
                    amphora_id,
                    SequenceState(
                        seq,
                        heard_at,
                        boot_id if valid_boot_id(boot_id) else None,
                        SequenceState.split_previous(previous),
                    ),
                )
        return len(rows)

    def heard_since(self, amphora_id: str, epoch: float) -> bool:
        """Whether a heartbeat of `amphora_id` accepted at or after `epoch` (seconds) is
        known here, written to the database or not yet."""
        with self._lock:
            state = self._sequences.get(amphora_id)
        return state is not None and state.heard_at >= epoch

    def close(self) -> None:
        """Write the statistics still summed in memory and wait for them."""
        with contextlib.suppress(Exception):
            self._submit_statistics(force=True)
        self._stats_writer.shutdown(wait=True)

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    # ---- in a worker thread --------------------------------------------------------------

    def flush(self, now: float | None = None) -> int:
        """Apply every buffered heartbeat in one transaction; returns how many datagrams.

        If the database fails, the batch goes back into the buffer (newer heartbeats that
        arrived meanwhile win, statistics deltas are kept) and the error propagates.
        """
        with self._lock:
            batch, self._pending = self._pending, {}
        if not batch:
            self._submit_statistics()
            return 0
        started = time.time()
        with collector.paused(len(batch)):
            try:
                outcome = self._apply(batch, now or started)
            except Exception:
                self._requeue(batch)
                raise
            status_log.log_flush(outcome.derived)  # before the cache takes the new statuses
            self.graphs.committed(outcome.derived)
        finished = time.time()
        self.metrics.count("processed", outcome.applied)
        self.metrics.count("status_writes", len(outcome.changes))
        self.metrics.count("stats_rows", outcome.stats_rows)
        oldest = min(pending.recv_time for pending in batch.values())
        self.metrics.record_flush(finished - oldest, finished - started)
        for amphora_id, compute_id in outcome.orphans:
            LOG.warning(
                "heartbeat from amphora %s that serves no load balancer: deleting its instance %s",
                amphora_id,
                compute_id,
            )
            if self.on_orphan is not None:
                self.on_orphan(amphora_id, compute_id)
        return outcome.applied

    def _apply(self, batch: dict[str, PendingHeartbeat], now: float) -> FlushOutcome:
        interval = self.conf.health_manager.heartbeat_interval
        outcome = FlushOutcome()
        alive: dict[str, SequenceState] = {}
        restored: list[str] = []
        # (amphora, its heartbeat, its load balancer's listeners): statistics to add up
        # once the transaction committed (a failed flush requeues them with the batch).
        counted: list[tuple[str, PendingHeartbeat, frozenset[str]]] = []
        with self.db.transaction() as session:
            views = self.graphs.views(session, batch)
            for amphora_id, pending in batch.items():
                view = views.get(amphora_id)
                if view is None:
                    self._drop("unknown_amphora", pending.datagrams)
                    continue
                lb = view.load_balancer
                if lb is None:
                    if view.status in SPARE_STATUSES:
                        # a spare: alive, nothing to derive
                        alive[amphora_id] = pending.sequence
                        outcome.applied += pending.datagrams
                    else:
                        self._drop("no_load_balancer", pending.datagrams)
                        outcome.orphans.append((amphora_id, view.compute_id))
                    continue
                # Statistics count even when the status part is ignored (as upstream,
                # where they take a separate path): traffic happened either way.
                if pending.stats:
                    counted.append((amphora_id, pending, lb.listener_ids))
                if now - pending.recv_time >= interval:
                    # Overloaded: upstream also ignores statuses that arrive this late.
                    # The amphora was alive when its heartbeat arrived, though, and its
                    # health row says so (with that time): a manager that falls behind
                    # must not fail over the amphorae it is late for.
                    alive[amphora_id] = pending.sequence
                    self._drop("late", pending.datagrams)
                    continue
                # Alive whatever its listeners' state: a listener haproxy does not run is
                # reported on the listener (status.derive), never as a missed heartbeat.
                alive[amphora_id] = pending.sequence
                if view.status == c.FAILOVER_STOPPED:
                    restored.append(amphora_id)
                outcome.applied += pending.datagrams
                key = pending.status
                if self.graphs.unchanged(amphora_id, lb, key):
                    continue
                changes = status_rules.derive(lb, heartbeat_format.loads(key))
                outcome.changes.merge(changes)
                outcome.derived.append((amphora_id, lb, key, changes))
            store.record_alive(session, alive, restored)
            store.write_statuses(session, outcome.changes)
        outcome.stats_rows = self._buffer_statistics(counted)
        self._submit_statistics()
        return outcome

    def _buffer_statistics(self, counted: list[tuple[str, PendingHeartbeat, frozenset[str]]]) -> int:
        """Add a flush's statistics to those not written yet (same rule as the database's:
        version 3 deltas add up, the rest replace); returns how many listener rows.

        One tuple of numbers per (listener, amphora), replaced as it is summed: the
        collector untracks such a tuple at its first young collection, whereas lists
        summed in place stayed tracked, and 10,000 of them, living for
        `stats_write_interval`, were promoted to the oldest generation every period
        (promotions are what trigger full collections).
        """
        rows = 0
        buffers = self._stats_buffer
        for amphora_id, pending, known in counted:
            version, recv_time = pending.version, pending.recv_time
            buffered = buffers.get(version)
            if buffered is None:
                buffered = buffers[version] = {}
            for lid, rx, tx, conns, totconns, ereq in pending.stats:
                if lid not in known:
                    continue
                rows += 1
                key = (lid, amphora_id)
                sums = buffered.get(key)
                if sums is None or version < 3:
                    buffered[key] = (rx, tx, conns, totconns, ereq, recv_time)
                else:
                    buffered[key] = (
                        sums[0] + rx,
                        sums[1] + tx,
                        conns,
                        sums[3] + totconns,
                        sums[4] + ereq,
                        recv_time,
                    )
        if self._stats_buffer and self._stats_since is None:
            self._stats_since = time.monotonic()
        return rows

    def _submit_statistics(self, force: bool = False) -> None:
        """Hand the summed statistics to the writer once they are old enough."""
        if self._stats_since is None:
            return
        period = float(self.conf.health_manager.stats_write_interval)
        if not force and time.monotonic() - self._stats_since < period:
            return
        stats_rows = {
            version: [_stats_row(key, sums) for key, sums in rows.items()]
            for version, rows in self._stats_buffer.items()
            if rows
        }
        self._stats_buffer, self._stats_since = {}, None
        if not stats_rows:
            return
        self._stats_slots.acquire()
        try:
            future = self._stats_writer.submit(self._write_statistics, stats_rows)
        except RuntimeError:  # closed: the service is stopping
            self._stats_slots.release()
            raise
        future.add_done_callback(lambda _: self._stats_slots.release())

    def _write_statistics(self, stats_rows: dict[int, list[dict[str, Any]]]) -> None:
        """Statistics in their own transaction: a row the database refuses must not keep
        health and statuses from being written (upstream keeps them apart too)."""
        if not stats_rows:
            return
        try:
            with self.db.transaction() as session:
                for version, rows in stats_rows.items():
                    store.write_statistics(session, rows, version)
            return
        except Exception:
            LOG.warning(
                "a batch of listener statistics was refused; writing its rows one by one", exc_info=True
            )
        # One bad row (a counter the column cannot hold) must not lose the others.
        for version, rows in stats_rows.items():
            for row in rows:
                try:
                    with self.db.transaction() as session:
                        store.write_statistics(session, [row], version)
                except Exception:
                    self.metrics.count("stats_failed")
                    LOG.exception(
                        "statistics of listener %s on amphora %s are lost",
                        row["listener_id"],
                        row["amphora_id"],
                    )

    def _requeue(self, batch: dict[str, PendingHeartbeat]) -> None:
        with self._lock:
            for amphora_id, older in batch.items():
                newer = self._pending.get(amphora_id)
                if newer is None:
                    self._pending[amphora_id] = older
                    continue
                self._pending[amphora_id] = newer._replace(
                    stats=_fold_stats(newer.stats, older.stats, newer.version),
                    datagrams=newer.datagrams + older.datagrams,
                )


@dataclasses.dataclass
class FlushOutcome:
    applied: int = 0
    stats_rows: int = 0
    changes: status_rules.StatusChanges = dataclasses.field(default_factory=status_rules.StatusChanges)
    derived: list[tuple[str, status_rules.LoadBalancerView, bytes, status_rules.StatusChanges]] = (
        dataclasses.field(default_factory=list)
    )
    orphans: list[tuple[str, str | None]] = dataclasses.field(default_factory=list)


def _stats_row(key: tuple[str, str], sums: tuple[Any, ...]) -> dict[str, Any]:
    """A listener_statistics row from a (listener, amphora) key and its summed counters."""
    return {
        "listener_id": key[0],
        "amphora_id": key[1],
        "bytes_in": sums[0],
        "bytes_out": sums[1],
        "active_connections": sums[2],
        "total_connections": sums[3],
        "request_errors": sums[4],
        "received_time": sums[5],
    }
