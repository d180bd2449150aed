"""The garbage collector held off while a flush holds a large batch.

A flush of 10,000 heartbeats makes a tracked object or two per amphora that live for the
whole flush (its graph view, its statistics entry: 20,000-30,000 at 10,000 heartbeats a
second), so young collections during the flush promoted them to the oldest generation,
and CPython runs a full collection once promotions reach a quarter of what survived the
last one: at 10,000 heartbeats a second that was a full collection every 1.7 s, traversing
the graph cache each time (52 in 90 s, up to 151 ms each, bench_heartbeats). Held off,
those objects die by reference counting at the end of the flush (they hold no cycles)
and are never promoted; collections resume as usual when the flush ends.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

# Below this many amphorae a flush is short and promotes little: leave the collector alone
# (the all-in-one controller shares it with the API and the worker).
PAUSE_FROM = 1000

_lock = threading.Lock()
_holders = 0


@contextlib.contextmanager
def paused(batch_size: int) -> Iterator[None]:
    """No automatic collection in this process while the block runs, if the batch is large."""
    global _holders
    if batch_size < PAUSE_FROM:
        yield
        return
    with _lock:
        if _holders == 0 and not gc.isenabled():
            # Someone else turned it off: not ours to turn back on.
            hold = False
        else:
            _holders += 1
            gc.disable()
            hold = True
    try:
        yield
    finally:
        if hold:
            with _lock:
                _holders -= 1
                if _holders == 0:
                    gc.enable()
