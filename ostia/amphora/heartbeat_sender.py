"""Send a heartbeat every `[health_manager] heartbeat_interval` seconds over UDP.

Destinations come from `[health_manager] controller_ip_port_list` and are used round-robin,
one per heartbeat. Interval, key and destinations are read again before every send, so a
new agent configuration applies without a restart.

Every heartbeat carries `seq`, counted from 0, and `boot_id`, random and new at every start
of the agent: the health manager accepts a sequence that starts again from 0 only with a
boot id it has not seen, so captured heartbeats of an earlier run cannot be replayed.
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

from oslo_config import cfg

from ostia.common import heartbeat_format

LOG = logging.getLogger(__name__)


def parse_destination(value: str) -> tuple[str, int]:
    """'ip:port' or '[ipv6]:port' -> (ip, port)."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"heartbeat destination {value!r} is not ip:port")
    return host.strip("[]"), int(port)


class HeartbeatSender:
    def __init__(
        self,
        conf_provider: Callable[[], cfg.ConfigOpts],
        build_message: Callable[[int], dict[str, Any]],
        suppressed: Callable[[], bool] = lambda: False,
    ) -> None:
        self._conf = conf_provider
        self._build = build_message
        self._suppressed = suppressed
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._sockets: dict[int, socket.socket] = {}
        self.seq = 0
        self.boot_id = uuid.uuid4().hex
        self._next_destination = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()

    def wake(self) -> None:
        """Send the next heartbeat now (after a configuration change)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.send_once()
            except Exception:  # a heartbeat must never kill the sender thread
                LOG.exception("heartbeat failed")
            interval = max(float(self._conf().health_manager.heartbeat_interval), 0.1)
            self._wake.wait(interval)
            self._wake.clear()

    def send_once(self) -> bool:
        """Build and send one heartbeat; False if nothing was sent."""
        conf = self._conf()
        destinations = list(conf.health_manager.controller_ip_port_list or [])
        key = conf.health_manager.heartbeat_key
        if not destinations or not key:
            LOG.debug("no heartbeat destinations or key configured; not sending")
            return False
        if self._suppressed():
            LOG.warning("keepalived is configured but not running; heartbeat withheld")
            return False
        message = {**self._build(self.seq), heartbeat_format.BOOT_ID_FIELD: self.boot_id}
        datagram = heartbeat_format.encode(message, key)
        if len(datagram) > heartbeat_format.MAX_DATAGRAM:
            LOG.error("heartbeat of %d bytes is too large for one datagram", len(datagram))
            return False
        target = destinations[self._next_destination % len(destinations)]
        self._next_destination = (self._next_destination + 1) % len(destinations)
        host, port = parse_destination(target)
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        sock = self._sockets.get(family)
        if sock is None:
            sock = self._sockets[family] = socket.socket(family, socket.SOCK_DGRAM)
        sock.sendto(datagram, address)
        self.seq += 1
        return True
