"""Read listener, pool and member state from a load balancer's haproxy stats socket.

Naming contract with the renderer: a frontend is named by its listener id, a backend
`<pool_id>:<listener_id>`, a server by its member id. Proxies whose names start with
`prometheus-exporter` are haproxy-internal and skipped.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re

from ostia.amphora.haproxy_socket import send_command

INTERNAL_PREFIX = "prometheus-exporter"
WORKER_PID = re.compile(r"^Pid: *(\d+) *$", re.M)


@dataclasses.dataclass(frozen=True)
class FrontendStats:
    listener_id: str
    status: str
    bytes_in: int
    bytes_out: int
    current_sessions: int
    total_sessions: int
    request_errors: int


@dataclasses.dataclass(frozen=True)
class BackendStats:
    name: str
    status: str
    members: dict[str, str]


@dataclasses.dataclass(frozen=True)
class LoadBalancerStats:
    worker_pid: int | None
    frontends: list[FrontendStats]
    backends: list[BackendStats]


# The fields `summarize` reads (of about ninety per row).
SUMMARY_FIELDS = ("pxname", "svname", "status", "weight", "bin", "bout", "scur", "stot", "ereq")


def parse_show_stat(text: str, fields: tuple[str, ...] | None = None) -> list[dict[str, str]]:
    """`show stat` CSV as one dict per row, keyed by haproxy's field names (only `fields`
    when given)."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("#"):
        return []
    header = lines[0].lstrip("# ").rstrip(",").split(",")
    wanted = [(i, name) for i, name in enumerate(header) if fields is None or name in fields]
    rows = []
    for record in csv.reader(io.StringIO("\n".join(line for line in lines[1:] if line))):
        rows.append({name: record[i] for i, name in wanted if i < len(record)})
    return rows


def parse_show_info(text: str) -> dict[str, str]:
    info = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    return info


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def member_status(row: dict[str, str]) -> str:
    """A server's status as heartbeats carry it: UP with weight 0 is DRAIN."""
    status = row.get("status", "")
    if status.startswith("MAINT"):
        return "MAINT"
    if status == "UP" and row.get("weight") == "0":
        return "DRAIN"
    return status


def summarize(rows: list[dict[str, str]], worker_pid: int | None = None) -> LoadBalancerStats:
    frontends: list[FrontendStats] = []
    backends: dict[str, BackendStats] = {}
    for row in rows:
        proxy, kind = row.get("pxname", ""), row.get("svname", "")
        if not proxy or proxy.startswith(INTERNAL_PREFIX):
            continue
        if kind == "FRONTEND":
            frontends.append(
                FrontendStats(
                    listener_id=proxy,
                    status=row.get("status", ""),
                    bytes_in=_int(row.get("bin")),
                    bytes_out=_int(row.get("bout")),
                    current_sessions=_int(row.get("scur")),
                    total_sessions=_int(row.get("stot")),
                    request_errors=_int(row.get("ereq")),
                )
            )
        elif kind == "BACKEND":
            backend = backends.setdefault(proxy, BackendStats(proxy, "", {}))
            backends[proxy] = dataclasses.replace(backend, status=row.get("status", ""))
        else:
            backend = backends.setdefault(proxy, BackendStats(proxy, "", {}))
            backend.members[kind] = member_status(row)
    return LoadBalancerStats(worker_pid, frontends, list(backends.values()))


def only_configured(stats: LoadBalancerStats, servers: dict[str, frozenset[str]]) -> LoadBalancerStats:
    """`stats` without the servers that the backends of the configuration haproxy runs do not
    name (`servers`: backend -> names): a removed member haproxy still keeps in maintenance
    until it can delete it (haproxy_lingering) is gone for everyone else."""
    backends = []
    for backend in stats.backends:
        named = servers.get(backend.name)
        if named is not None:
            members = {name: status for name, status in backend.members.items() if name in named}
            backend = dataclasses.replace(backend, members=members)
        backends.append(backend)
    return dataclasses.replace(stats, backends=backends)


def read_stats(stats_socket: str, timeout: float = 2.0) -> LoadBalancerStats:
    """Query one haproxy. Raises HaproxySocketError when it does not answer.

    Both commands go in one connection (haproxy runs `;`-separated commands in turn): an
    idle agent asks every haproxy at every heartbeat, a thousand of them on one host."""
    answer = send_command(stats_socket, "show info;show stat", timeout)
    # show stat's CSV starts with its `# pxname,...` header line.
    at = answer.find("# pxname")
    info_text, stat_text = (answer, "") if at < 0 else (answer[:at], answer[at:])
    pid = WORKER_PID.search(info_text)
    return summarize(parse_show_stat(stat_text, SUMMARY_FIELDS), int(pid.group(1)) if pid else None)
