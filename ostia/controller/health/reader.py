"""The UDP endpoint of the health manager, driven by the asyncio event loop."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

from ostia.common import heartbeat_format
from ostia.controller.health.receiver import HeartbeatProcessor

LOG = logging.getLogger(__name__)
# Bounded so that the loop's other tasks (timers of flushes and scans) still get a turn.
MAX_DATAGRAMS_PER_WAKEUP = 2000
# After a read that found datagrams, the next one comes this many seconds later, on a
# timer, instead of at the next datagram's arrival. A wake-up of the loop costs about 40 us
# of CPU whatever it reads (epoll, the loop's turn, the GIL): with 1,000 amphorae every
# 2 s that was 500 wake-ups a second for one datagram each. Paced, at most 50 a second;
# a datagram's arrival time is taken up to this much later, which the heartbeat interval
# and timeout (seconds) do not notice. A quiet socket waits on readiness again.
READ_PACING = 0.02


class HeartbeatReader:
    """The UDP endpoint: on each wake-up of the event loop, reads every queued datagram.

    asyncio's datagram transport reads one datagram per loop iteration, and each iteration
    gives up the GIL in select(): while a flush runs in its thread, taking it back costs up
    to the interpreter's switch interval (5 ms) per datagram, and the socket overflows at a
    few hundred heartbeats a second. Draining the socket per wake-up pays that once.
    """

    def __init__(
        self, processor: HeartbeatProcessor, sock: socket.socket, pacing: float = READ_PACING
    ) -> None:
        self.processor = processor
        self.sock = sock
        self.pacing = pacing
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self.sock.fileno(), self.on_readable)

    def stop(self) -> None:
        if self._loop is None:
            return
        self._loop.remove_reader(self.sock.fileno())
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def on_readable(self) -> None:
        read = self.drain()
        if read and self.pacing > 0 and self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
            self._schedule(read)

    def _on_timer(self) -> None:
        self._timer = None
        read = self.drain()
        if read:
            self._schedule(read)
        elif self._loop is not None:
            self._loop.add_reader(self.sock.fileno(), self.on_readable)

    def _schedule(self, read: int) -> None:
        assert self._loop is not None
        if read >= MAX_DATAGRAMS_PER_WAKEUP:  # more queued: keep the socket drained
            self._timer = self._loop.call_soon(self._on_timer)
        else:
            self._timer = self._loop.call_later(self.pacing, self._on_timer)

    def drain(self) -> int:
        """Read and accept what is queued, up to MAX_DATAGRAMS_PER_WAKEUP; how many read."""
        accept, metrics = self.processor.accept, self.processor.metrics
        for count in range(MAX_DATAGRAMS_PER_WAKEUP):
            try:
                data, addr = self.sock.recvfrom(heartbeat_format.MAX_DATAGRAM + 1)
            except (BlockingIOError, InterruptedError):
                return count
            except OSError as exc:
                LOG.debug("heartbeat socket error: %s", exc)
                return count
            try:
                accept(data, time.time())
            except Exception:  # never let one datagram stop the receiver
                metrics.count("internal_error")
                LOG.exception("unexpected error on a heartbeat from %s", addr)
        return MAX_DATAGRAMS_PER_WAKEUP
