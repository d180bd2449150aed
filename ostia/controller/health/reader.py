"""The UDP endpoint of the health manager, driven by the asyncio event loop."""

from __future__ import annotations

import logging
import socket
import time

from ostia.common import heartbeat_format
from ostia.controller.health.receiver import HeartbeatProcessor

LOG = logging.getLogger(__name__)
# Bounded so that the loop's other tasks (timers of flushes and scans) still get a turn.
MAX_DATAGRAMS_PER_WAKEUP = 2000


class HeartbeatReader:
    """The UDP endpoint: on each wake-up of the event loop, reads every queued datagram.

    asyncio's datagram transport reads one datagram per loop iteration, and each iteration
    gives up the GIL in select(): while a flush runs in its thread, taking it back costs up
    to the interpreter's switch interval (5 ms) per datagram, and the socket overflows at a
    few hundred heartbeats a second. Draining the socket per wake-up pays that once.
    """

    def __init__(self, processor: HeartbeatProcessor, sock: socket.socket) -> None:
        self.processor = processor
        self.sock = sock

    def on_readable(self) -> None:
        accept, metrics = self.processor.accept, self.processor.metrics
        for _ in range(MAX_DATAGRAMS_PER_WAKEUP):
            try:
                data, addr = self.sock.recvfrom(heartbeat_format.MAX_DATAGRAM + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                LOG.debug("heartbeat socket error: %s", exc)
                return
            try:
                accept(data, time.time())
            except Exception:  # never let one datagram stop the receiver
                metrics.count("internal_error")
                LOG.exception("unexpected error on a heartbeat from %s", addr)
