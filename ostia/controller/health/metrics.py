"""What the health manager counts: datagrams by outcome, and flush timings."""

from __future__ import annotations

import collections
import threading

DROP_KINDS = (
    "bad_signature",
    "truncated",
    "bad_compression",
    "bad_payload",
    "oversized",
    "replayed",
    "old_boot",
    "seq_jump",
    "no_boot_id",
    "late",
    "unknown_amphora",
    "no_load_balancer",
)


class HealthMetrics:
    """Counters of what the receiver saw and flush timings; read by logs, tests, benchmarks."""

    def __init__(self) -> None:
        self._counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        # Per flush: seconds from the oldest datagram's arrival to its commit, and the
        # flush's own duration. Bounded: enough for percentiles over a benchmark run.
        self.lags: collections.deque[float] = collections.deque(maxlen=100_000)
        self.flush_seconds: collections.deque[float] = collections.deque(maxlen=100_000)

    def count(self, kind: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[kind] += amount

    def record_flush(self, lag: float, duration: float) -> None:
        self.lags.append(lag)
        self.flush_seconds.append(duration)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def dropped(self) -> int:
        snap = self.snapshot()
        return sum(snap.get(kind, 0) for kind in DROP_KINDS)
