"""Statistics of UDP listeners, from nginx's access log sent to the agent as syslog.

Open-source nginx has no statistics interface for its stream module, so each listener's
nginx logs one line per finished session (`udp_config.main_config`) as syslog to a UDP
socket of the agent on 127.0.0.1, in the namespace nginx runs in (a UNIX socket would have
to be reachable by nginx's workers, which run as nobody when the agent is root). The port
is kept in `<base_path>/udp/stats-port`, so that a restarted agent listens where the
running nginx processes send.

    <190>Dec  3 14:00:00 nginx: ostia-udp <listener_id> <bytes_in> <bytes_out> <time> <status>

The agent adds the lines up and hands the sums over at each heartbeat, which sends them as
deltas (version 3). Sessions still open are not counted until they end, so `conns` (open
sessions) is not known and reported as 0.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import threading
from collections.abc import Callable

from ostia.amphora.udp_config import STATS_TAG

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class ListenerCounters:
    rx: int = 0
    tx: int = 0
    sessions: int = 0
    errors: int = 0


def parse_line(datagram: bytes) -> tuple[str, int, int, int] | None:
    """(listener_id, bytes_in, bytes_out, status) of one access-log datagram."""
    text = datagram.decode(errors="replace")
    _, tag, rest = text.partition(STATS_TAG + " ")
    if not tag:
        return None
    words = rest.split()
    if len(words) < 5 or not all(w.isdigit() for w in (words[1], words[2], words[4])):
        return None
    return words[0], int(words[1]), int(words[2]), int(words[4])


class UdpStatsReceiver:
    def __init__(self, port_file: str) -> None:
        self.port_file = port_file
        self.port = 0
        self._counters: dict[str, ListenerCounters] = {}
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self, enter_namespace: Callable[[], None] = lambda: None) -> int:
        """Listen (in the thread's namespace after `enter_namespace`); returns the port,
        which differs from the previous run's only if that one was taken."""
        if self._thread is not None:
            return self.port
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(enter_namespace, ready), name="udp-stats", daemon=True
        )
        self._thread.start()
        ready.wait(5)
        return self.port

    def _bind(self) -> socket.socket:
        previous = 0
        with contextlib.suppress(OSError, ValueError), open(self.port_file) as handle:
            previous = int(handle.read().strip())
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("127.0.0.1", previous))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        self.port = int(sock.getsockname()[1])
        with open(self.port_file + ".tmp", "w") as handle:
            handle.write(str(self.port))
        os.replace(self.port_file + ".tmp", self.port_file)
        return sock

    def stop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            # The thread blocks in recv without a timeout (no wake-ups at rest): an empty
            # datagram to itself lets it see that it should end.
            with contextlib.suppress(OSError):
                sock.sendto(b"", sock.getsockname())
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if sock is not None:
            sock.close()

    def _run(self, enter_namespace: Callable[[], None], ready: threading.Event) -> None:
        try:
            enter_namespace()
            self._sock = self._bind()
        finally:
            ready.set()
        sock = self._sock
        while sock is not None and self._sock is sock:
            try:
                datagram = sock.recv(4096)
            except OSError:
                return
            self.record(datagram)

    def record(self, datagram: bytes) -> None:
        parsed = parse_line(datagram)
        if parsed is None:
            return
        listener_id, bytes_in, bytes_out, status = parsed
        with self._lock:
            counters = self._counters.setdefault(listener_id, ListenerCounters())
            counters.rx += bytes_in
            counters.tx += bytes_out
            counters.sessions += 1
            if status >= 500:
                counters.errors += 1

    def take(self, listener_id: str) -> ListenerCounters:
        """The counters since the previous call for this listener (then zero)."""
        with self._lock:
            return self._counters.pop(listener_id, ListenerCounters())
