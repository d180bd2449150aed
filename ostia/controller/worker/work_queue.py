"""The worker's in-process queue of load balancer ids: deduplicated, delayable, one at a time.

An id is queued at most once; an id handed to a thread is "in flight" and is not handed to
another thread until `done`. A wake-up for an id in flight marks it to run once more after
it finishes (the API may have changed the LB right after our attempt settled it).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time


class WorkQueue:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[str, float] = {}            # id -> earliest monotonic time to run
        self._heap: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._in_flight: set[str] = set()
        self._again: dict[str, float] = {}          # in flight, run again after done()
        self._closed = False

    def put(self, lb_id: str, delay: float = 0.0) -> None:
        """Queue `lb_id` to run after `delay` seconds (an earlier request wins)."""
        when = time.monotonic() + max(delay, 0.0)
        with self._cond:
            if self._closed:
                return
            if lb_id in self._in_flight:
                self._again[lb_id] = min(when, self._again.get(lb_id, when))
                return
            current = self._due.get(lb_id)
            if current is not None and current <= when:
                return
            self._due[lb_id] = when
            heapq.heappush(self._heap, (when, next(self._order), lb_id))
            self._cond.notify()

    def get(self, timeout: float) -> str | None:
        """The next due id (now in flight), or None after `timeout` seconds or on close."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                while self._heap:
                    when, _, lb_id = self._heap[0]
                    if self._due.get(lb_id) != when:
                        heapq.heappop(self._heap)  # superseded by an earlier request
                        continue
                    if when > now:
                        break
                    heapq.heappop(self._heap)
                    del self._due[lb_id]
                    self._in_flight.add(lb_id)
                    return lb_id
                wait = deadline - now
                if wait <= 0:
                    return None
                if self._heap:
                    wait = min(wait, self._heap[0][0] - now)
                self._cond.wait(max(wait, 0.001))
            return None

    def done(self, lb_id: str, retry_in: float | None = None) -> None:
        """`lb_id` is no longer in flight; queue it again if asked to meanwhile or by retry."""
        with self._cond:
            self._in_flight.discard(lb_id)
            again = self._again.pop(lb_id, None)
        if again is not None:
            self.put(lb_id, max(again - time.monotonic(), 0.0))
        if retry_in is not None:
            self.put(lb_id, retry_in)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._due)
