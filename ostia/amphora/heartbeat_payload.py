"""Build the heartbeat message (version 3) from haproxy statistics.

Counters are sent as deltas since the previous heartbeat. The last absolute values are kept
in `<base_path>/stats_counters.json` together with the pid of the haproxy worker that
produced them, so a restarted agent continues where it left off and a reloaded haproxy
(a new worker whose counters start at zero) is not counted twice.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable
from typing import Any

from ostia.amphora.haproxy_stats import LoadBalancerStats
from ostia.common import heartbeat_format

LOG = logging.getLogger(__name__)

COUNTERS = ("bin", "bout", "stot", "ereq")


class StatsCounters:
    def __init__(self, path: str) -> None:
        self.path = path
        self._last: dict[str, dict[str, int]] = self._load()
        # Written only when a counter moved: an idle amphora does not rewrite the file
        # at every heartbeat.
        self._changed = False

    def _load(self) -> dict[str, dict[str, int]]:
        try:
            with open(self.path) as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            LOG.warning("ignoring unreadable %s: %s", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def delta(self, listener_id: str, worker_pid: int | None, absolute: dict[str, int]) -> dict[str, int]:
        """Counters since the previous call; absolute values after a reset or a new worker."""
        pid = worker_pid or 0
        last = self._last.get(listener_id)
        same_worker = last is not None and last.get("pid") == pid
        result = {}
        for name in COUNTERS:
            value = absolute.get(name, 0)
            change = value - (last.get(name, 0) if last and same_worker else 0)
            result[name] = value if change < 0 else change
        current = {"pid": pid, **absolute}
        if last != current:
            self._last[listener_id] = current
            self._changed = True
        return result

    def forget_others(self, keep: Iterable[str]) -> None:
        """Drop counters of listeners that no longer exist on this amphora."""
        wanted = set(keep)
        for listener_id in list(self._last):
            if listener_id not in wanted:
                del self._last[listener_id]
                self._changed = True

    def save(self) -> None:
        """Write the counters if they changed since the last save."""
        if not self._changed:
            return
        directory = os.path.dirname(self.path)
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".stats-")
        with os.fdopen(fd, "w") as handle:
            json.dump(self._last, handle)
        os.replace(tmp, self.path)
        self._changed = False


def build_message(
    amphora_id: str,
    seq: int,
    load_balancers: Iterable[LoadBalancerStats],
    counters: StatsCounters,
) -> dict[str, Any]:
    listeners: dict[str, Any] = {}
    pools: dict[str, Any] = {}
    for lb in load_balancers:
        for frontend in lb.frontends:
            change = counters.delta(
                frontend.listener_id,
                lb.worker_pid,
                {
                    "bin": frontend.bytes_in,
                    "bout": frontend.bytes_out,
                    "stot": frontend.total_sessions,
                    "ereq": frontend.request_errors,
                },
            )
            listeners[frontend.listener_id] = {
                "status": frontend.status,
                "stats": {
                    "rx": change["bin"],
                    "tx": change["bout"],
                    "conns": frontend.current_sessions,
                    "totconns": change["stot"],
                    "ereq": change["ereq"],
                },
            }
        for backend in lb.backends:
            pools[backend.name] = {"status": backend.status, "members": dict(backend.members)}
    return {
        "id": amphora_id,
        "seq": seq,
        "ver": heartbeat_format.VERSION,
        "listeners": listeners,
        "pools": pools,
    }
