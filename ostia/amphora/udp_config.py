"""The UDP listener configuration the controller uploads, as the agent reads and runs it.

The controller renders the content of nginx's `stream {}` block for one listener
(`ostia.controller.worker.render_nginx_udp`). Lines starting with `#ostia:` tell the agent
what nginx itself cannot: which pool and members the `server` lines are, and the health
monitor the agent runs (nginx has passive checks only):

    #ostia:listener <listener_id>
    #ostia:pool <pool_id>
    #ostia:check type=UDP-CONNECT interval=<s> timeout=<s> rise=<n> fall=<n>
    server <addr>:<port> weight=<w> ...; #ostia:member <member_id> check=<addr>:<port>
    server <addr>:<port> weight=1 down; #ostia:member <member_id> admin-down

Members the agent's check finds down get ` down` added to their `server` line in the
configuration nginx runs (`effective_stream`); the uploaded text stays as it was, for
`GET .../udp_listener`. The agent owns the process-level part (`main_config`): module,
pid file, error log and the access log that feeds heartbeat statistics.
"""

from __future__ import annotations

import dataclasses
import re

MARK = "#ostia:"
STATS_TAG = "ostia-udp"
_MEMBER_LINE = re.compile(
    r"^(?P<server>\s*server\s+\S+(?:\s+[^;#]*)?);\s*#ostia:member\s+(?P<id>[A-Za-z0-9_.-]+)"
    r"(?P<rest>.*)$"
)
_CHECK_TARGET = re.compile(r"check=(\[[0-9A-Fa-f:.]+\]|[0-9.]+):([0-9]{1,5})")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")


@dataclasses.dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    codes: frozenset[int]
    host: str | None


@dataclasses.dataclass(frozen=True)
class HealthCheck:
    type: str
    interval: float
    timeout: float
    rise: int
    fall: int
    http: HttpRequest | None = None


@dataclasses.dataclass(frozen=True)
class MemberEntry:
    member_id: str
    admin_down: bool
    drain: bool
    check_address: tuple[str, int] | None


@dataclasses.dataclass(frozen=True)
class UdpListenerSpec:
    listener_id: str | None
    pool_id: str | None
    check: HealthCheck | None
    members: tuple[MemberEntry, ...]


class UdpConfigError(ValueError):
    """The uploaded text is not a UDP listener configuration this agent can run."""


def parse(text: str) -> UdpListenerSpec:
    listener_id = pool_id = None
    check: HealthCheck | None = None
    members: list[MemberEntry] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(MARK):
            kind, _, value = stripped[len(MARK) :].partition(" ")
            value = value.strip()
            if kind == "listener":
                listener_id = _checked_id(value)
            elif kind == "pool":
                pool_id = _checked_id(value)
            elif kind == "check":
                check = _parse_check(value)
            continue
        match = _MEMBER_LINE.match(line)
        if match:
            rest = match.group("rest")
            target = _CHECK_TARGET.search(rest)
            address = None
            if target:
                address = (target.group(1).strip("[]"), int(target.group(2)))
            members.append(
                MemberEntry(
                    member_id=_checked_id(match.group("id")),
                    admin_down="admin-down" in rest.split(),
                    drain="drain" in rest.split(),
                    check_address=address,
                )
            )
    return UdpListenerSpec(listener_id, pool_id, check, tuple(members))


def _checked_id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise UdpConfigError(f"{value!r} is not an id")
    return value


def _parse_check(value: str) -> HealthCheck:
    fields = dict(word.partition("=")[::2] for word in value.split())
    try:
        http = None
        if "path" in fields:
            http = HttpRequest(
                method=fields.get("method", "GET"),
                path=fields["path"],
                codes=_codes(fields.get("codes", "200")),
                host=fields.get("host"),
            )
        return HealthCheck(
            type=fields["type"],
            interval=max(float(fields["interval"]), 0.2),
            timeout=max(float(fields["timeout"]), 0.05),
            rise=max(int(fields["rise"]), 1),
            fall=max(int(fields["fall"]), 1),
            http=http,
        )
    except (KeyError, ValueError) as exc:
        raise UdpConfigError(f"health check line {value!r} is incomplete: {exc}") from None


def _codes(text: str) -> frozenset[int]:
    """ "200", "200,202" or "200-204"."""
    low, dash, high = text.partition("-")
    if dash:
        return frozenset(range(int(low), int(high) + 1))
    return frozenset(int(code) for code in text.split(","))


def effective_stream(text: str, down: set[str]) -> str:
    """The uploaded stream configuration with the members in `down` marked `down`."""
    if not down:
        return text
    lines = []
    for line in text.splitlines(keepends=True):
        match = _MEMBER_LINE.match(line.rstrip("\n"))
        if match and match.group("id") in down and not re.search(r"\sdown\s*$", match.group("server")):
            line = f"{match.group('server')} down; {MARK}member {match.group('id')}{match.group('rest')}\n"
        lines.append(line)
    return "".join(lines)


def main_config(
    *,
    stream_path: str,
    pid_path: str,
    error_log: str,
    listener_id: str,
    stats_port: int | None,
    stream_module: str | None,
    worker_connections: int = 4096,
) -> str:
    """The nginx.conf the agent starts nginx with: one worker, its own paths, and the
    listener's stream block included. Every session ends in one access-log line sent to
    the agent's statistics socket (syslog to 127.0.0.1:`stats_port`)."""
    lines = []
    if stream_module:
        lines.append(f"load_module {stream_module};")
    lines += [
        "worker_processes 1;",
        f"pid {pid_path};",
        f"error_log {error_log} warn;",
        f"events {{ worker_connections {int(worker_connections)}; }}",
        "stream {",
    ]
    if stats_port:
        lines += [
            f"    log_format ostia_udp '{STATS_TAG} {listener_id} $bytes_received "
            "$bytes_sent $session_time $status';",
            f"    access_log syslog:server=127.0.0.1:{int(stats_port)},nohostname ostia_udp;",
        ]
    lines += [f"    include {stream_path};", "}", ""]
    return "\n".join(lines)
