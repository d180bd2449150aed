"""Member changes without a reload: apply a configuration's server-line changes through
haproxy's runtime API.

A reload costs a re-execution of the master, a new worker and the old worker's drain; for
the most frequent change (a member added, removed, re-weighted or put in or out of
maintenance) haproxy 2.6 can do the same on the stats socket: `add server`, `set server
... weight|state`, `del server`. The agent compares the configuration haproxy runs with the
new one (both files as rendered); when they differ only in the `server` lines of backends,
and only in ways the runtime API can express, it sends those commands instead of reloading.
The new file is in place either way, so a restart of haproxy gives the same servers.

Anything else (a frontend, a backend option, a member's address, backup flag or health
monitor words, a keyword `add server` does not take such as `cookie`) asks for a reload, and
so does any command haproxy refuses: the reload then makes the running state match the file,
whatever part of the plan was applied.

One refusal is not one: haproxy 2.6 will not `del server` while the server still has a
connection, and that includes an idle one in its reuse pool, which it closes only at a later
`pool-purge-delay` round (5 s each, two or three of them). Such a server is left in
maintenance, takes no new request, and counts as removed: `apply` returns it, and
haproxy_lingering deletes it in the background. Adding it back meanwhile (same backend and
name, same address and words) puts it back in service instead of adding it twice.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import time
from collections.abc import Mapping

from ostia.amphora.haproxy_socket import HaproxySocketError, send_command

LOG = logging.getLogger(__name__)

# Server keywords that haproxy 2.6's `add server` accepts (management guide, "add server"),
# with the number of arguments each takes. A server line using anything else is reloaded.
_RUNTIME_KEYWORDS: dict[str, int] = {
    "addr": 1,
    "agent-addr": 1,
    "agent-check": 0,
    "agent-inter": 1,
    "agent-port": 1,
    "agent-send": 1,
    "allow-0rtt": 0,
    "alpn": 1,
    "backup": 0,
    "ca-file": 1,
    "check": 0,
    "check-alpn": 1,
    "check-proto": 1,
    "check-send-proxy": 0,
    "check-sni": 1,
    "check-ssl": 0,
    "check-via-socks4": 0,
    "ciphers": 1,
    "ciphersuites": 1,
    "crl-file": 1,
    "crt": 1,
    "disabled": 0,
    "downinter": 1,
    "enabled": 0,
    "error-limit": 1,
    "fall": 1,
    "fastinter": 1,
    "force-sslv3": 0,
    "force-tlsv10": 0,
    "force-tlsv11": 0,
    "force-tlsv12": 0,
    "force-tlsv13": 0,
    "id": 1,
    "inter": 1,
    "maxconn": 1,
    "maxqueue": 1,
    "minconn": 1,
    "no-ssl-reuse": 0,
    "no-sslv3": 0,
    "no-tlsv10": 0,
    "no-tlsv11": 0,
    "no-tlsv12": 0,
    "no-tlsv13": 0,
    "no-tls-tickets": 0,
    "npn": 1,
    "observe": 1,
    "on-error": 1,
    "on-marked-down": 1,
    "on-marked-up": 1,
    "pool-low-conn": 1,
    "pool-max-conn": 1,
    "pool-purge-delay": 1,
    "port": 1,
    "proto": 1,
    "proxy-v2-options": 1,
    "rise": 1,
    "send-proxy": 0,
    "send-proxy-v2": 0,
    "send-proxy-v2-ssl": 0,
    "send-proxy-v2-ssl-cn": 0,
    "slowstart": 1,
    "sni": 1,
    "source": 1,
    "ssl": 0,
    "ssl-max-ver": 1,
    "ssl-min-ver": 1,
    "tfo": 0,
    "tls-tickets": 0,
    "usesrc": 1,
    "verify": 1,
    "verifyhost": 1,
    "weight": 1,
    "ws": 1,
}
MAX_WEIGHT = 256
# Words of a server line that `set server` changes in place.
_STATE_WORDS = ("disabled", "enabled")

# `del server` refuses a server that still has connections. `disable server` has haproxy
# close the idle ones of its reuse pool (each thread at its next turn), so a retry or two
# may help; a request still running, or its connection pooled once it ends, keeps the server
# for seconds, and it lingers in maintenance instead (see haproxy_lingering): waiting here
# would only delay the answer to the worker.
DRAIN_WAIT = 0.03
# haproxy 2.6's answer when connections (active, idle or queued) keep a server from `del server`.
STILL_CONNECTED = "still has connections"


@dataclasses.dataclass(frozen=True)
class Server:
    address: str
    weight: str
    disabled: bool
    other: tuple[str, ...]  # every other word, in order: changing any of them needs a reload

    @property
    def checked(self) -> bool:
        return "check" in self.other


@dataclasses.dataclass(frozen=True)
class ParsedConfig:
    # Every line that is not a backend's `server` line, comments and blank lines left out.
    skeleton: tuple[str, ...]
    # backend name -> server name -> server, in file order.
    servers: dict[str, dict[str, Server]]


def parse(config: str) -> ParsedConfig | None:
    """Split a configuration into what only a reload changes and the backends' servers.

    None when a server line is one this module does not read (quotes, escapes, a keyword
    the runtime API does not take): such a configuration is always reloaded.
    """
    skeleton: list[str] = []
    servers: dict[str, dict[str, Server]] = {}
    backend: str | None = None
    for raw in config.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not raw[:1].isspace():
            words = line.split()
            backend = words[1] if words[0] == "backend" and len(words) == 2 else None
            if backend is not None:
                servers.setdefault(backend, {})
            skeleton.append(line)
            continue
        if backend is None or not line.startswith("server "):
            skeleton.append(line)
            continue
        parsed = _parse_server(line)
        if parsed is None:
            return None
        name, server = parsed
        if name in servers[backend]:
            return None
        servers[backend][name] = server
    return ParsedConfig(tuple(skeleton), servers)


def server_names(config: str) -> dict[str, frozenset[str]]:
    """backend -> the names of its `server` lines, read from any configuration (unlike
    `parse`, whatever words follow the name)."""
    names: dict[str, set[str]] = {}
    backend: str | None = None
    for raw in config.splitlines():
        words = raw.split()
        if not words or words[0].startswith("#"):
            continue
        if not raw[:1].isspace():
            backend = words[1] if words[0] == "backend" and len(words) > 1 else None
            if backend is not None:
                names.setdefault(backend, set())
        elif backend is not None and words[0] == "server" and len(words) > 1:
            names[backend].add(words[1])
    return {backend: frozenset(servers) for backend, servers in names.items()}


def _parse_server(line: str) -> tuple[str, Server] | None:
    if any(char in line for char in "\"'\\#"):
        return None
    words = line.split()[1:]
    if len(words) < 2:
        return None
    name, address = words[0], words[1]
    if not _valid_address(address):
        return None
    weight = "1"
    disabled = False
    other: list[str] = []
    index = 2
    while index < len(words):
        word = words[index]
        arity = _RUNTIME_KEYWORDS.get(word)
        if arity is None or index + arity > len(words) - 1:
            return None
        if word == "weight":
            weight = words[index + 1]
            if not weight.isdigit() or int(weight) > MAX_WEIGHT:
                return None
        elif word in _STATE_WORDS:
            disabled = word == "disabled"
        else:
            other.extend(words[index : index + 1 + arity])
        index += 1 + arity
    return name, Server(address, weight, disabled, tuple(other))


def _valid_address(address: str) -> bool:
    """`<IPv4 or IPv6>:<port>`, as the renderer writes members (no names, no ranges)."""
    host, _, port = address.rpartition(":")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return port.isdigit() and 0 < int(port) < 65536


@dataclasses.dataclass(frozen=True)
class Command:
    text: str
    success: str  # what haproxy answers when it did it ("" for commands that answer nothing)
    # What puts haproxy back as it was before this command (sent in order).
    undo: tuple[Command, ...] = ()
    # For `del server`: the server it removes, which may linger if haproxy keeps it.
    removes: Server | None = None


def plan(running: str, wanted: str, lingering: Mapping[str, Server] | None = None) -> list[Command] | None:
    """The runtime commands that turn `running` into `wanted`, or None if a reload must.

    `lingering`: servers haproxy still runs in maintenance although `running` removed them
    (`backend/name` -> server). One that `wanted` adds again is put back in service.
    """
    lingering = lingering or {}
    old, new = parse(running), parse(wanted)
    if old is None or new is None or old.skeleton != new.skeleton:
        return None
    # New servers first and removed ones last, so that a backend whose members are all
    # replaced never passes through a moment without a server (clients would get 503).
    additions: list[Command] = []
    updates: list[Command] = []
    deletions: list[Command] = []
    for backend, servers in new.servers.items():
        before = old.servers.get(backend, {})
        for name, server in servers.items():
            current = before.get(name)
            target = f"{backend}/{name}"
            if current is None and target in lingering:
                back = _revive(target, lingering[target], server)
                if back is None:
                    return None
                additions += back
            elif current is None:
                additions += _add(target, server)
            elif (current.address, current.other) != (server.address, server.other):
                return None
            else:
                updates += _update(target, current, server)
        deletions += [
            command
            for name, server in before.items()
            if name not in servers
            for command in _delete(f"{backend}/{name}", server)
        ]
    return additions + updates + deletions


def _add(target: str, server: Server) -> list[Command]:
    words = [server.address, "weight", server.weight, *server.other]
    if server.disabled:
        words.append("disabled")
    remove = (
        Command(f"set server {target} state maint", ""),
        Command(f"del server {target}", "Server deleted."),
    )
    commands = [Command(f"add server {target} {' '.join(words)}", "New server registered.", remove)]
    # A dynamic server starts in maintenance with its checks off.
    if server.checked:
        commands.append(Command(f"enable health {target}", ""))
    if not server.disabled:
        commands.append(Command(f"enable server {target}", ""))
    return commands


def _update(target: str, current: Server, server: Server) -> list[Command]:
    commands = []
    if current.weight != server.weight:
        commands.append(
            Command(
                f"set server {target} weight {server.weight}",
                "",
                (Command(f"set server {target} weight {current.weight}", ""),),
            )
        )
    if current.disabled != server.disabled:
        commands.append(
            Command(
                f"set server {target} state {_state(server)}",
                "",
                (Command(f"set server {target} state {_state(current)}", ""),),
            )
        )
    return commands


def _revive(target: str, lingering: Server, server: Server) -> list[Command] | None:
    """Commands that put a lingering server back as `server`; None when it differs in what
    only a new server can change (its address or other words): a reload then."""
    if (lingering.address, lingering.other) != (server.address, server.other):
        return None
    maintenance = dataclasses.replace(lingering, disabled=True)
    return _update(target, maintenance, server)


def _delete(target: str, server: Server) -> list[Command]:
    return [
        Command(
            f"disable server {target}", "", (Command(f"set server {target} state {_state(server)}", ""),)
        ),
        Command(f"del server {target}", "Server deleted.", tuple(_add(target, server)), server),
    ]


def _state(server: Server) -> str:
    return "maint" if server.disabled else "ready"


class RuntimeRefused(Exception):
    """haproxy did not take a runtime command; what was applied before it is undone, and a
    reload has to apply the file."""


class StillConnected(RuntimeRefused):
    """`del server` refused because the server still has connections."""


def apply(socket_path: str, commands: list[Command], drain_wait: float = DRAIN_WAIT) -> dict[str, Server]:
    """Send `commands` in order on the stats socket; return the removed servers haproxy
    keeps for now (`backend/name` -> server), each in maintenance.

    At the first refusal, undo the commands already applied (newest first) and raise
    RuntimeRefused: haproxy then runs exactly what it ran before, so that a check refusing
    the new file leaves it consistent with the configuration put back. A `del server`
    refused because connections remain is retried until `drain_wait`, then counts as done:
    the server, disabled just before, takes no new request (its `disable` is still undone
    if a later command is refused).
    """
    applied: list[Command] = []
    lingering: dict[str, Server] = {}
    for command in commands:
        try:
            _send(socket_path, command, drain_wait)
        except StillConnected:
            if command.removes is None:
                _undo(socket_path, applied, drain_wait)
                raise
            target = command.text.split()[-1]
            lingering[target] = command.removes
            LOG.info("haproxy runtime: %s has connections left; it stays in maintenance", target)
            continue
        except RuntimeRefused:
            _undo(socket_path, applied, drain_wait)
            raise
        applied.append(command)
    return lingering


def _undo(socket_path: str, applied: list[Command], drain_wait: float) -> None:
    for done in reversed(applied):
        for undo in done.undo:
            try:
                _send(socket_path, undo, drain_wait)
            except RuntimeRefused as exc:
                LOG.warning("haproxy runtime: could not undo %r: %s", done.text, exc)


def _send(socket_path: str, command: Command, drain_wait: float) -> None:
    deadline = time.monotonic() + drain_wait
    while True:
        try:
            answer = send_command(socket_path, command.text).strip()
        except HaproxySocketError as exc:
            raise RuntimeRefused(str(exc)) from exc
        if answer == command.success:
            LOG.debug("haproxy runtime: %s", command.text)
            return
        if command.text.startswith("del server") and STILL_CONNECTED in answer:
            if time.monotonic() < deadline:
                time.sleep(0.02)
                continue
            raise StillConnected(f"{command.text!r}: {answer}")
        raise RuntimeRefused(f"{command.text!r}: {answer or 'no answer'}")
