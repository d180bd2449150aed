"""Whether a reload now would lose the stick tables of an ACTIVE_STANDBY amphora.

On a reload the old worker teaches the new one its tables through the local peer (the
`peers` line named by `-L`), but only once its own initial resync is over: it first waits
for a teacher of its own (haproxy's 5 s resync timeout), then for the remote peer (another
5 s at most). A reload during those ~10 s after a fresh start starts the new worker with
empty tables, and the pinned clients of both amphorae (which reload together) move. The
agent therefore waits for the resync before such a reload, when a table holds entries:
a new load balancer, whose tables are empty, reloads at once.
"""

from __future__ import annotations

import logging
import re
import time

from ostia.amphora.haproxy_socket import HaproxySocketError, send_command

LOG = logging.getLogger(__name__)

# haproxy's PEERS_F_RESYNC_LOCAL | PEERS_F_RESYNC_REMOTE: learnt (or gave up learning) from
# the previous worker and from the remote peers. A worker teaches only with both set.
RESYNCED = 0x3
# Two resync timeouts of 5 s, and some slack.
SETTLE_TIMEOUT = 12.0

_SECTION = re.compile(r"^0x[0-9a-f]+: .* id=(\S+) .*\bflags=0x([0-9a-f]+)")
_TABLE = re.compile(r"^# table: [^,]+, .*\bused:(\d+)")


def unsynced_sections(show_peers: str) -> list[str]:
    """Names of the peers sections of `show peers` whose initial resync is not over."""
    pending = []
    for line in show_peers.splitlines():
        found = _SECTION.match(line)
        if found and int(found.group(2), 16) & RESYNCED != RESYNCED:
            pending.append(found.group(1))
    return pending


def table_entries(show_table: str) -> int:
    """Entries in all stick tables, from `show table` without argument."""
    return sum(int(found.group(1)) for line in show_table.splitlines() if (found := _TABLE.match(line)))


def wait_until_tables_can_move(stats_socket: str, timeout: float = SETTLE_TIMEOUT) -> float:
    """Wait until a reload would hand the tables over (or nothing is to lose); return the
    seconds waited. Gives up after `timeout` (the reload then loses the entries, as before)
    and when haproxy does not answer."""
    started = time.monotonic()
    while True:
        try:
            pending = unsynced_sections(send_command(stats_socket, "show peers"))
            if not pending or not table_entries(send_command(stats_socket, "show table")):
                return time.monotonic() - started
        except HaproxySocketError:
            return time.monotonic() - started
        waited = time.monotonic() - started
        if waited > timeout:
            LOG.warning("peers %s still resyncing after %.1f s; reloading anyway", ", ".join(pending), waited)
            return waited
        time.sleep(0.1)
