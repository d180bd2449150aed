"""When each step of a change ends, timed in the control plane's process, for bench_worker.

    trace = StepTrace.install()            # wraps the API's and worker's steps once
    trace.start()                          # times from now (the POST is about to be sent)
    ... POST, wait for traffic and ACTIVE ...
    steps = trace.stop()                   # {"worker: lease claimed": seconds, ...}

Each wrapped call records the moment it returned (the first time in a trace): the step
"ends at" that many seconds after `start`. The wrappers cost a few microseconds a call;
they are installed only when the bench is asked for a trace (`--trace`).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from ostia.api import providers
from ostia.controller.worker import leases, reconciler, work_queue
from ostia.controller.worker.haproxy import render
from ostia.drivers.amphora import rest_driver

# (owner of the attribute, attribute, step name), in the order the steps happen.
STEPS: list[tuple[Any, str, str]] = [
    (providers.ProviderRegistry, "notify", "API: change committed, worker woken"),
    (work_queue.WorkQueue, "get", "worker: item taken from the queue"),
    (leases, "claim", "worker: lease claimed"),
    (reconciler, "read_snapshot", "worker: graph snapshot read"),
    (render, "render_haproxy_config", "worker: configuration rendered"),
    (rest_driver.HaproxyRestAmphoraDriver, "upload_haproxy_config", "worker: PUT configuration answered"),
    (rest_driver.HaproxyRestAmphoraDriver, "reload_loadbalancer", "worker: PUT reload answered"),
    (reconciler.Reconciler, "_settle", "worker: statuses settled"),
]


class StepTrace:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: float | None = None
        self._ends: dict[str, float] = {}

    @classmethod
    def install(cls) -> StepTrace:
        trace = cls()
        for owner, attribute, name in STEPS:
            setattr(owner, attribute, trace._wrap(getattr(owner, attribute), name))
        return trace

    def _wrap(self, function: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            result = function(*args, **kwargs)
            if name == STEPS[1][2] and result is None:
                return result  # the queue's idle timeout, not an item
            self.mark(name)
            return result

        return timed

    def mark(self, name: str, at: float | None = None) -> None:
        """`name` ended now (or at time.monotonic() `at`), unless it ended before."""
        now = time.monotonic() if at is None else at
        with self._lock:
            if self._started is not None and name not in self._ends:
                self._ends[name] = now - self._started

    def start(self, at: float | None = None) -> None:
        with self._lock:
            self._started = time.monotonic() if at is None else at
            self._ends = {}

    def stop(self) -> dict[str, float]:
        with self._lock:
            self._started = None
            return dict(self._ends)
