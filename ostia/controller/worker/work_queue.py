"""The worker's in-process queue of work items: deduplicated, delayable, one at a time.

An item is queued at most once; an item handed to a thread is "in flight" and is not handed
to another thread until `done`. A wake-up for an item in flight marks it to run once more
after it finishes (the API may have changed the LB right after our attempt settled it).
Items are typed (`ReconcileLoadBalancer`, `DestroyAmphora`); the queue itself takes any
hashable value.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import threading
import time
from collections.abc import Hashable
from typing import Generic, TypeVar

Item = TypeVar("Item", bound=Hashable)


@dataclasses.dataclass(frozen=True)
class ReconcileLoadBalancer:
    """Drive one load balancer and everything under it toward its stored state."""

    lb_id: str


@dataclasses.dataclass(frozen=True)
class DestroyAmphora:
    """Delete the instance of an amphora no load balancer uses any more."""

    amphora_id: str


WorkItem = ReconcileLoadBalancer | DestroyAmphora


class WorkQueue(Generic[Item]):
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[Item, float] = {}  # item -> earliest monotonic time to run
        self._heap: list[tuple[float, int, Item]] = []
        self._order = itertools.count()
        self._in_flight: set[Item] = set()
        self._again: dict[Item, float] = {}  # in flight, run again after done()
        self._closed = False

    def put(self, item: Item, delay: float = 0.0) -> None:
        """Queue `item` to run after `delay` seconds (an earlier request wins)."""
        when = time.monotonic() + max(delay, 0.0)
        with self._cond:
            if self._closed:
                return
            if item in self._in_flight:
                self._again[item] = min(when, self._again.get(item, when))
                return
            current = self._due.get(item)
            if current is not None and current <= when:
                return
            self._due[item] = when
            heapq.heappush(self._heap, (when, next(self._order), item))
            self._cond.notify()

    def get(self, timeout: float) -> Item | None:
        """The next due item (now in flight), or None after `timeout` seconds or on close."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                while self._heap:
                    when, _, item = self._heap[0]
                    if self._due.get(item) != when:
                        heapq.heappop(self._heap)  # superseded by an earlier request
                        continue
                    if when > now:
                        break
                    heapq.heappop(self._heap)
                    del self._due[item]
                    self._in_flight.add(item)
                    return item
                wait = deadline - now
                if wait <= 0:
                    return None
                if self._heap:
                    wait = min(wait, self._heap[0][0] - now)
                self._cond.wait(max(wait, 0.001))
            return None

    def done(self, item: Item, retry_in: float | None = None) -> None:
        """`item` is no longer in flight; queue it again if asked to meanwhile or by retry."""
        with self._cond:
            self._in_flight.discard(item)
            again = self._again.pop(item, None)
        if again is not None:
            self.put(item, max(again - time.monotonic(), 0.0))
        if retry_in is not None:
            self.put(item, retry_in)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._due)
