"""Keep haproxy's connection limit within the file descriptors it really has.

haproxy sizes its file descriptor table from the global `maxconn` (about two descriptors a
connection) and touches all of it at start: the controller's default of 50000 costs each
haproxy worker about 6 MiB, even where the process may open only 20000 descriptors (a local
amphora on a host with that hard limit) and could never hold more than about 10000
connections. The agent then starts haproxy with `-n <what the descriptors allow>`, which
takes precedence over the configuration's `maxconn`: nothing that could have been served is
refused, and the table is sized to the descriptors. Where the limit is high enough (an
amphora VM) no `-n` is given.

`-n` stays for the master's life (it re-executes itself with the same arguments on reload);
each listener keeps its own `maxconn` from the configuration either way.
"""

from __future__ import annotations

import resource

# Descriptors haproxy keeps for itself besides two per connection: listeners, the stats
# and master sockets, pollers, health-check connections, logs.
RESERVED_DESCRIPTORS = 200


def global_maxconn(config: str) -> int | None:
    """The `maxconn` of the configuration's `global` section, if it has one."""
    in_global = False
    for raw in config.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not raw[:1].isspace():
            in_global = line == "global"
            continue
        words = line.split()
        if in_global and words[0] == "maxconn" and len(words) > 1 and words[1].isdigit():
            return int(words[1])
    return None


def descriptor_cap(hard_limit: int | None = None) -> int | None:
    """Connections the descriptor hard limit allows; None when it is unlimited."""
    if hard_limit is None:
        hard_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard_limit == resource.RLIM_INFINITY:
        return None
    return max(1, (hard_limit - RESERVED_DESCRIPTORS) // 2)


def maxconn_arguments(config: str, hard_limit: int | None = None) -> list[str]:
    """`["-n", N]` when the configuration asks for more connections than descriptors allow."""
    wanted = global_maxconn(config)
    cap = descriptor_cap(hard_limit)
    if wanted is None or cap is None or wanted <= cap:
        return []
    return ["-n", str(cap)]
