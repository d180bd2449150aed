"""What this worker last learnt from each amphora's agent, to skip calls that would repeat it.

Two facts, both safe to act on when stale:

* an amphora's file locations (`GET /1.0/info`): fixed for the life of its instance, so an
  amphora whose agent answered since its instance was built (forgotten at every build) is
  configured without `GET /` and `GET /1.0/info` first: a running one met before, or a spare
  this process's housekeeper started (a call that finds its agent down fails with the
  retries of a running amphora, and the next attempt rebuilds a dead instance);
* the md5 of the haproxy configuration this worker last saw an amphora run for a load
  balancer. When the configuration to push differs from it, the push follows without
  reading the current one back first; when it equals it, the current one is read as before
  (another worker may have changed it since), so a stale entry costs at most a push of a
  configuration the amphora already runs, which its agent applies as no change.

Entries live in this process only and are bounded (least recently used go first).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from ostia.controller.worker.configure import AmphoraPaths

CAPACITY = 4096

Key = TypeVar("Key")
Value = TypeVar("Value")


class _Bounded(Generic[Key, Value]):
    def __init__(self, capacity: int) -> None:
        self._items: collections.OrderedDict[Key, Value] = collections.OrderedDict()
        self._capacity = capacity

    def get(self, key: Key) -> Value | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: Key, value: Value) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def drop(self, key: Key) -> None:
        self._items.pop(key, None)

    def drop_where(self, matches: Callable[[Key], bool]) -> None:
        for key in [k for k in self._items if matches(k)]:
            del self._items[key]


class AmphoraMemo:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._lock = threading.Lock()
        self._paths: _Bounded[str, AmphoraPaths] = _Bounded(capacity)
        self._configs: _Bounded[tuple[str, str], str] = _Bounded(capacity)

    def paths(self, amphora_id: str) -> AmphoraPaths | None:
        with self._lock:
            return self._paths.get(amphora_id)

    def learn_paths(self, amphora_id: str, paths: AmphoraPaths) -> None:
        with self._lock:
            self._paths.put(amphora_id, paths)

    def config_md5(self, amphora_id: str, lb_id: str) -> str | None:
        with self._lock:
            return self._configs.get((amphora_id, lb_id))

    def learn_config(self, amphora_id: str, lb_id: str, md5: str | None) -> None:
        with self._lock:
            if md5 is None:
                self._configs.drop((amphora_id, lb_id))
            else:
                self._configs.put((amphora_id, lb_id), md5)

    def forget(self, amphora_id: str) -> None:
        """The amphora is gone (or replaced): nothing known about it holds any more."""
        with self._lock:
            self._paths.drop(amphora_id)
            self._configs.drop_where(lambda key: key[0] == amphora_id)
