"""Load balancer status graphs kept between flushes, re-read only when they changed.

Every flush reads each heard amphora's row with its load balancer's version
(provisioning status, enabled, updated_at) in one SELECT; the four SELECTs of a graph run
only for load balancers that are new to the cache, whose version moved, or whose entry
aged out. Every change through the API or the worker rewrites the load balancer row
(PENDING_* and back), so a version that did not move means a graph that did not change,
except for operating statuses that another health manager wrote: the age limit bounds
how long this manager may compare against such a value (a missed write is made by
whichever manager next sees the amphora's heartbeat and holds the fresher value).

The cache also remembers, per amphora, the status part of the last heartbeat it derived
statuses from: an unchanged heartbeat against an unchanged graph cannot change anything
and is not derived again.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session

from ostia.common import heartbeat_format
from ostia.controller.health import store
from ostia.controller.health.status import LoadBalancerView, StatusChanges

# Seconds a graph is trusted without re-reading it; each entry gets 50-150 % of it so that
# a fleet loaded at once does not expire at once.
GRAPH_TTL = 60.0


@dataclasses.dataclass
class _Entry:
    view: LoadBalancerView
    version: tuple[Any, ...]
    expires: float


@dataclasses.dataclass(frozen=True)
class _Derived:
    view: LoadBalancerView
    key: bytes


def status_part(message: dict[str, Any]) -> bytes:
    """What in a heartbeat decides statuses, as JSON bytes: each listener's status and the
    pools section (a message `status.derive` reads as it reads the whole heartbeat).

    Bytes rather than the parsed parts: the flush compares them with the last derived
    ones without walking nested dicts, and a batch of them waiting for a flush adds
    nothing for the garbage collector to traverse (a batch of parsed messages was tens of
    thousands of dicts, promoted to the oldest generation every flush).
    """
    listeners = message.get("listeners")
    statuses = (
        {lid: {"status": entry.get("status")} for lid, entry in listeners.items() if isinstance(entry, dict)}
        if isinstance(listeners, dict)
        else {}
    )
    return heartbeat_format.dumps({"listeners": statuses, "pools": message.get("pools")})


class GraphCache:
    def __init__(self, ttl: float = GRAPH_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._derived: dict[str, _Derived] = {}
        self._next_sweep = 0.0
        self.graph_loads = 0

    def views(self, session: Session, amphora_ids: Iterable[str]) -> dict[str, store.AmphoraView]:
        """Per amphora with a row (DELETED ones too): its status and its LB's graph.

        The graph is None when the amphora serves no load balancer, or a DELETED one.
        """
        stamps = store.amphora_stamps(session, amphora_ids)
        now = self.clock()
        self._sweep(now)
        entries = self._entries
        wanted: dict[str, tuple[Any, ...]] = {}
        for stamp in stamps:
            lb_id = stamp[3]
            if not lb_id or stamp[4] is None:
                continue
            version = stamp[4:]
            entry = entries.get(lb_id)
            if entry is None or entry.version != version or entry.expires <= now:
                wanted[lb_id] = version
        if wanted:
            loaded = store.load_balancer_views(session, wanted)
            self.graph_loads += len(loaded)
            for lb_id, version in wanted.items():
                view = loaded.get(lb_id)
                if view is None:
                    self._entries.pop(lb_id, None)
                    continue
                self._entries[lb_id] = _Entry(view, version, now + self.ttl * (0.5 + random.random()))
        result: dict[str, store.AmphoraView] = {}
        view_of = store.AmphoraView
        for amphora_id, status, compute_id, lb_id, lb_status, _, _ in stamps:
            entry = entries.get(lb_id) if lb_id and lb_status is not None else None
            result[amphora_id] = view_of(
                amphora_id, status, compute_id, entry.view if entry is not None else None
            )
        return result

    def __len__(self) -> int:
        """Load balancer graphs cached."""
        return len(self._entries)

    def unchanged(self, amphora_id: str, view: LoadBalancerView, key: bytes) -> bool:
        """True if this heartbeat's statuses were already derived against this graph."""
        last = self._derived.get(amphora_id)
        return last is not None and last.view is view and last.key == key

    def committed(self, derived: Iterable[tuple[str, LoadBalancerView, bytes, StatusChanges]]) -> None:
        """After a successful commit: cached statuses take the written values."""
        for amphora_id, view, key, changes in derived:
            if changes:
                _apply(view, changes)
            self._derived[amphora_id] = _Derived(view, key)

    def forget(self) -> None:
        self._entries.clear()
        self._derived.clear()

    def _sweep(self, now: float) -> None:
        """Drop entries nobody asked for within their lifetime (deleted LBs, moved amps)."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.ttl
        self._entries = {k: e for k, e in self._entries.items() if e.expires > now}
        live = {id(e.view) for e in self._entries.values()}
        self._derived = {k: d for k, d in self._derived.items() if id(d.view) in live}


def _apply(view: LoadBalancerView, changes: StatusChanges) -> None:
    if view.id in changes.load_balancer:
        view.operating_status = changes.load_balancer[view.id]
    for listener in view.listeners:
        if listener.id in changes.listener:
            listener.operating_status = changes.listener[listener.id]
    for pool in view.pools:
        if pool.id in changes.pool:
            pool.operating_status = changes.pool[pool.id]
        for member in pool.members:
            if member.id in changes.member:
                member.operating_status = changes.member[member.id]
