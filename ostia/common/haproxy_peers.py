"""How the amphorae of an ACTIVE_STANDBY pair name themselves in haproxy's `peers` section.

The controller renders one `peer <name> <vrrp_ip>:<PEER_PORT>` line per amphora; the agent
starts haproxy with `-L <name>` of its own amphora, which tells haproxy which line is its
own (it listens there) and which are remote (it pushes stick-table updates to them). Both
sides must compute the same name, so it lives here.
"""

from __future__ import annotations

import re

# Upstream's port for stick-table replication between the amphorae (on their vrrp_ip).
PEER_PORT = 1025

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.]{0,63}")


def peer_name(amphora_id: str) -> str:
    """The amphora's id without dashes (a UUID gives 32 hex digits; upstream writes a hash
    of the id instead, this one reads back in `show peers`).

    The name is also a command-line argument (`-L`), so it never starts with `-`; ValueError
    for an id that gives no such name.
    """
    name = amphora_id.replace("-", "")
    if not _NAME.fullmatch(name):
        raise ValueError(f"amphora id {amphora_id!r} gives no usable haproxy peer name")
    return name
