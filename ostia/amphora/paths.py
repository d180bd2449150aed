"""Where the agent keeps each load balancer's files: the contract with the config renderer.

One haproxy process serves one load balancer. Under `[haproxy_amphora] base_path`:

    <base_path>/<lb_id>.sock             stats socket. The renderer emits, in `global`:
                                           stats socket <base_path>/<lb_id>.sock mode 0666 level admin
                                         The agent reads `show stat` / `show info` from it for
                                         heartbeats.
    <base_path>/<lb_id>/haproxy.cfg      the last configuration that passed `haproxy -c`
    <base_path>/<lb_id>/haproxy.cfg.new  an upload being checked; `.new-failed` keeps the last
                                         upload that failed the check
    <base_path>/<lb_id>/<lb_id>.pid      pid file of the haproxy master (agent passes `-p`)
    <base_path>/<lb_id>/cli              master CLI socket (agent passes `-S`): liveness, reloads
    <base_path>/<lb_id>/haproxy.log      the master's stdout and stderr
    <base_path>/<lb_id>/stopped          present after a `stop` action: not to be restarted
    <base_path>/<lb_id>/servers-state    `show servers state`, written before each reload (for
                                         `server-state-file` + `load-server-state-from-file`)
    <base_path>/ping-wrapper.sh          script of PING health monitors (`external-check
                                         command`), installed by the agent at start
    <base_path>/stats_counters.json      last counters sent in heartbeats (deltas survive
                                         restarts of the agent)
    <base_path>/plug/                    plug/vip and plug/network payloads received
    <base_path>/vrrp/                    keepalived files (namespace amphorae)
    <base_cert_dir>/<lb_id>/<name>.pem   listener and pool certificates (mode 0600)

The agent starts haproxy itself in master-worker mode:
`haproxy -W -f <cfg> -S <lb_dir>/cli -p <pid> -L <peer name>` (absolute paths, because the master
re-executes itself with the same arguments on reload). No `-D`: the master stays the agent's
child (its output goes to haproxy.log) in a session of its own, so it outlives the agent.
A `daemon` line in the configuration still works. The agent adds `-L <peer name>` (its
amphora id without dashes, `ostia.common.haproxy_peers`) to the start and to `haproxy -c`:
with peers (ACTIVE_STANDBY) the configuration lists both amphorae and `-L` says which one
this is, so the renderer writes no `localpeer`. The renderer may emit `master-worker` and a
`pidfile` equal to the one above; it should emit `hard-stop-after` in `global` and
`option idle-close-on-response` in `defaults` so reloads drop nothing.

haproxy refuses unix socket paths longer than 97 characters, so `base_path` may be at most
55 characters long (`constants.HAPROXY_MAX_BASE_PATH`): the stats socket
`<base_path>/<lb_id>.sock` is the longest path; the master CLI is kept shorter.
"""

from __future__ import annotations

import os
import re

from ostia.common import constants

_OBJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_CERT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,250}\.pem")


def is_object_id(value: str) -> bool:
    """True for ids safe to use as a file name (UUIDs and similar)."""
    return bool(_OBJECT_ID.fullmatch(value))


def is_cert_filename(value: str) -> bool:
    return bool(_CERT_NAME.fullmatch(value)) and ".." not in value


class AgentPaths:
    def __init__(self, base_path: str, base_cert_dir: str) -> None:
        self.base_path = os.path.abspath(base_path)
        self.base_cert_dir = os.path.abspath(base_cert_dir)

    def check(self) -> None:
        """Raise ValueError if the socket paths would be too long for this base_path."""
        if len(self.base_path) > constants.HAPROXY_MAX_BASE_PATH:
            raise ValueError(
                f"[haproxy_amphora] base_path {self.base_path!r} is {len(self.base_path)} "
                f"characters; haproxy socket paths under it would exceed haproxy's limit of "
                f"{constants.HAPROXY_MAX_SOCKET_PATH}. Use a base_path of at most "
                f"{constants.HAPROXY_MAX_BASE_PATH} characters."
            )

    def lb_dir(self, lb_id: str) -> str:
        return os.path.join(self.base_path, lb_id)

    def config(self, lb_id: str) -> str:
        return os.path.join(self.lb_dir(lb_id), "haproxy.cfg")

    def staged_config(self, lb_id: str) -> str:
        return self.config(lb_id) + ".new"

    def failed_config(self, lb_id: str) -> str:
        return self.config(lb_id) + ".new-failed"

    def running_config(self, lb_id: str) -> str:
        """A copy of the last configuration haproxy started or reloaded with."""
        return self.config(lb_id) + ".running"

    def pid_file(self, lb_id: str) -> str:
        return os.path.join(self.lb_dir(lb_id), f"{lb_id}.pid")

    def master_socket(self, lb_id: str) -> str:
        return os.path.join(self.lb_dir(lb_id), "cli")

    def stats_socket(self, lb_id: str) -> str:
        return os.path.join(self.base_path, f"{lb_id}.sock")

    def log_file(self, lb_id: str) -> str:
        return os.path.join(self.lb_dir(lb_id), "haproxy.log")

    def stopped_marker(self, lb_id: str) -> str:
        return os.path.join(self.lb_dir(lb_id), "stopped")

    def servers_state(self, lb_id: str) -> str:
        return os.path.join(self.lb_dir(lb_id), "servers-state")

    def ping_wrapper(self) -> str:
        return os.path.join(self.base_path, "ping-wrapper.sh")

    def stats_counters(self) -> str:
        return os.path.join(self.base_path, "stats_counters.json")

    def plug_dir(self) -> str:
        return os.path.join(self.base_path, "plug")

    def vrrp_dir(self) -> str:
        return os.path.join(self.base_path, "vrrp")

    def cert_dir(self, lb_id: str) -> str:
        return os.path.join(self.base_cert_dir, lb_id)

    def cert_file(self, lb_id: str, filename: str) -> str:
        return os.path.join(self.cert_dir(lb_id), filename)

    def lb_ids(self) -> list[str]:
        """Load balancers that have a configuration on this amphora, sorted."""
        try:
            names = os.listdir(self.base_path)
        except FileNotFoundError:
            return []
        return sorted(name for name in names if is_object_id(name) and os.path.isfile(self.config(name)))
