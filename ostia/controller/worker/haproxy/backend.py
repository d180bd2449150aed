"""One haproxy backend per (pool, listener): balancing, persistence, health checks, servers.

A pool gets a backend per listener that reaches it (as default pool or through an L7
policy), named `<pool_id>:<listener_id>`, because timeouts and inserted headers come from the
listener.

Choices where Octavia leaves room:
- SOURCE_IP_PORT hashes the client's address *and* port (`balance hash`), so each client
  connection is placed independently but deterministically; `balance source` would pin every
  connection of a client to one member, which is SOURCE_IP.
- A pool with admin_state_up false keeps its backend with every server `disabled`: clients
  get 503, and the stats socket reports each member as MAINT (Octavia's OFFLINE).
- A disabled health monitor renders no checks (members report NO_MONITOR, as upstream).
- TLS-HELLO uses `option ssl-hello-chk`; on a pool that already speaks TLS to its members the
  check connection does a full handshake, so a plain `check` is used instead.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from ostia.common import constants, limits
from ostia.controller.worker.haproxy import graph_values
from ostia.controller.worker.haproxy import tls as haproxy_tls
from ostia.controller.worker.haproxy.escape import (
    UnsafeValue,
    check_text,
    fetch_arg,
    ident,
    integer,
    log_format_text,
    matching,
    quote,
)
from ostia.controller.worker.haproxy.l7 import live
from ostia.db import models

PING_WRAPPER = "ping-wrapper.sh"
_BALANCE = {
    constants.ROUND_ROBIN: "roundrobin",
    constants.LEAST_CONNECTIONS: "leastconn",
    constants.SOURCE_IP: "source",
    constants.SOURCE_IP_PORT: "hash src,concat(:,txn.ostia_src_port)",
}
_STICK_SIZE = re.compile(r"[1-9][0-9]{0,9}[kmg]?")
_SSL_HEADERS = {
    "X-SSL-Client-Verify": "%[ssl_c_verify]",
    "X-SSL-Client-Has-Cert": "%[ssl_c_used]",
    "X-SSL-Client-DN": "%{+Q}[ssl_c_s_dn]",
    "X-SSL-Client-CN": "%{+Q}[ssl_c_s_dn(cn)]",
    "X-SSL-Issuer": "%{+Q}[ssl_c_i_dn]",
    "X-SSL-Client-SHA1": "%{+Q}[ssl_c_sha1,hex]",
    "X-SSL-Client-Not-Before": "%{+Q}[ssl_c_notbefore]",
    "X-SSL-Client-Not-After": "%{+Q}[ssl_c_notafter]",
}
_SOURCE_HEADERS = ("X-Forwarded-IP", "X-Client-IP", "X-Real-IP")


@dataclass
class BackendView:
    """One `backend` section; list items are the words after the section's keywords."""

    name: str
    pool_id: str
    listener_id: str
    mode: str
    balance: str
    timeout_connect: int
    timeout_server: int
    tcp_requests: list[str] = field(default_factory=list)
    http_requests: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    directives: list[str] = field(default_factory=list)  # whole lines: persistence, checks
    servers: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BackendContext:
    """What a backend needs from outside its pool."""

    listener: models.Listener
    listener_mode: str
    conf: Any
    base_path: str
    lb_cert_dir: str
    peers_section: str | None


def backend_name(pool: models.Pool, listener: models.Listener) -> str:
    return f"{ident(pool.id, 'pool.id')}:{ident(listener.id, 'listener.id')}"


def backend_mode(pool: models.Pool, listener_mode: str) -> str:
    if pool.protocol == constants.HTTP:
        return "http"
    if pool.protocol in (constants.PROXY, constants.PROXYV2):
        return listener_mode
    return "tcp"


def build_backend(pool: models.Pool, ctx: BackendContext) -> BackendView:
    listener = ctx.listener
    haproxy_conf = ctx.conf.haproxy_amphora
    mode = backend_mode(pool, ctx.listener_mode)
    balance = _BALANCE.get(pool.lb_algorithm)
    if balance is None:
        raise UnsafeValue("pool.lb_algorithm", pool.lb_algorithm, "unknown algorithm")
    view = BackendView(
        name=backend_name(pool, listener),
        pool_id=pool.id,
        listener_id=listener.id,
        mode=mode,
        balance=balance,
        timeout_connect=_timeout(
            listener.timeout_member_connect, haproxy_conf.timeout_member_connect, "timeout_member_connect"
        ),
        timeout_server=_timeout(
            listener.timeout_member_data, haproxy_conf.timeout_member_data, "timeout_member_data"
        ),
    )
    if pool.lb_algorithm == constants.SOURCE_IP_PORT:
        view.tcp_requests.append("content set-var(txn.ostia_src_port) src_port")
    if mode == "http":
        _insert_headers(view, listener)
        if haproxy_conf.http_reuse != "safe":  # haproxy's default: written only when not
            view.directives.append(f"http-reuse {haproxy_conf.http_reuse}")
    cookie_servers = _persistence(view, pool, ctx)
    check_words = _health_monitor(view, pool, ctx)
    view.options.append("allbackups")
    tls = haproxy_tls.pool_tls(pool)
    tls_words = (
        haproxy_tls.server_tls_options(
            pool,
            tls,
            ctx.lb_cert_dir,
            ctx.conf.api_settings,
            sni=listener.protocol == constants.TERMINATED_HTTPS,
        )
        if tls
        else []
    )
    for server in graph_values.member_servers(pool):
        view.servers.append(_server(server, pool, check_words, cookie_servers, tls_words))
    if not view.servers:
        view.comments.append("no members: requests routed here answer 503")
    return view


def _server(
    server: graph_values.MemberServer,
    pool: models.Pool,
    check_words: list[str],
    cookie: bool,
    tls_words: list[str],
) -> str:
    words = [server.id, f"{server.address}:{server.port}", "weight", str(server.weight)]
    if check_words:
        words += check_words
        monitor_address = server.monitor_address()
        if monitor_address is not None:
            words += ["addr", monitor_address]
        monitor_port = server.monitor_port()
        if monitor_port is not None:
            words += ["port", str(monitor_port)]
    if cookie:
        words += ["cookie", server.id]
    if pool.protocol == constants.PROXY:
        words.append("send-proxy")
    elif pool.protocol == constants.PROXYV2:
        words.append("send-proxy-v2")
    words += tls_words
    if server.member.backup:
        words.append("backup")
    if server.admin_down:
        words.append("disabled")
    return " ".join(words)


def _insert_headers(view: BackendView, listener: models.Listener) -> None:
    wanted = {
        check_text(key, "listener.insert_headers")
        for key, value in (listener.insert_headers or {}).items()
        if _truthy(value, "listener.insert_headers")
    }
    if "X-Forwarded-For" in wanted:
        view.options.append("forwardfor")
    if "X-Forwarded-Port" in wanted:
        view.http_requests.append("set-header X-Forwarded-Port %[dst_port]")
    if "X-Forwarded-Proto" in wanted:
        scheme = "https" if listener.protocol == constants.TERMINATED_HTTPS else "http"
        view.http_requests.append(f"set-header X-Forwarded-Proto {scheme}")
    for header in _SOURCE_HEADERS:
        if header in wanted:
            view.http_requests.append(f"set-header {header} %[src]")
    if listener.protocol == constants.TERMINATED_HTTPS:
        for header, fmt in _SSL_HEADERS.items():
            if header in wanted:
                view.http_requests.append(f"set-header {header} {quote(fmt, header)}")


def _truthy(value: object, field_name: str) -> bool:
    if isinstance(value, bool):
        return value
    return check_text(value, field_name).strip().lower() == "true"


def _persistence(view: BackendView, pool: models.Pool, ctx: BackendContext) -> bool:
    """Add persistence directives; True when servers need a `cookie` word."""
    sp = pool.session_persistence
    if sp is None:
        return False
    if sp.type not in constants.SESSION_PERSISTENCE_TYPES:  # it is written in a comment below
        raise UnsafeValue("session_persistence.type", sp.type, "unknown persistence type")
    size = matching(
        ctx.conf.haproxy_amphora.haproxy_stick_size,
        "[haproxy_amphora] haproxy_stick_size",
        _STICK_SIZE,
        "a table size",
    )
    peers = f" peers {ctx.peers_section}" if ctx.peers_section else ""
    if sp.type == constants.SOURCE_IP:
        view.directives += [f"stick-table type ipv6 size {size}{peers}", "stick on src"]
        return False
    if view.mode != "http":
        view.comments.append(f"{sp.type} persistence needs HTTP; not applied in TCP mode")
        return False
    if sp.type == constants.HTTP_COOKIE:
        view.directives.append("cookie SRV insert indirect nocache")
        return True
    if sp.type == constants.APP_COOKIE:
        if not sp.cookie_name:
            raise UnsafeValue("session_persistence.cookie_name", sp.cookie_name, "missing")
        cookie = fetch_arg(sp.cookie_name, "session_persistence.cookie_name")
        field_name = "session_persistence.cookie_name"
        view.directives += [
            f"stick-table type string len 64 size {size}{peers}",
            f"stick store-response {quote(f'res.cook({cookie})', field_name)}",
            f"stick match {quote(f'req.cook({cookie})', field_name)}",
        ]
        return False
    raise UnsafeValue("session_persistence.type", sp.type, "unknown persistence type")


def _health_monitor(view: BackendView, pool: models.Pool, ctx: BackendContext) -> list[str]:
    """Add check directives; return the words every server line gets."""
    hm = pool.health_monitor
    if hm is None or not live(hm):
        return []
    timing = graph_values.monitor_timing(hm)
    view.directives.append(f"timeout check {timing.timeout}s")
    # haproxy refuses `inter 0`; a zero delay means "as often as allowed", one second here.
    words = ["check", "inter", f"{max(timing.delay, 1)}s", "fall", str(timing.fall), "rise", str(timing.rise)]
    if hm.type in (constants.HTTP, constants.HTTPS):
        view.options.append(_httpchk(hm))
        if hm.http_version == 1.1 and hm.domain_name:
            domain = graph_values.monitor_host(hm)
            view.directives.append(
                f"http-check send hdr Host {quote(log_format_text(domain, 'domain'), 'domain')}"
            )
        view.directives.append(f"http-check expect rstatus {quote(status_regex(hm), 'codes')}")
        if pool.tls_enabled:
            words += ["check-alpn", "http/1.1"]
        elif hm.type == constants.HTTPS:
            words += ["check-ssl", "verify", "none"]
    elif hm.type == constants.HM_TLS_HELLO:
        if not pool.tls_enabled:
            view.options.append("ssl-hello-chk")
    elif hm.type == constants.HM_PING:
        view.options.append("external-check")
        view.directives += [
            'external-check path "/usr/bin:/bin"',
            f"external-check command {quote(posixpath.join(ctx.base_path, PING_WRAPPER), 'path')}",
        ]
    return words


def _httpchk(hm: models.HealthMonitor) -> str:
    method = graph_values.monitor_http_method(hm)
    words = ["httpchk", method, quote(graph_values.monitor_url_path(hm), "healthmonitor.url_path")]
    if hm.http_version is not None:
        if hm.http_version not in limits.HM_HTTP_VERSIONS:
            raise UnsafeValue("healthmonitor.http_version", hm.http_version, "not 1.0 or 1.1")
        words.append(f"HTTP/{hm.http_version:.1f}")
    return " ".join(words)


def status_regex(hm: models.HealthMonitor) -> str:
    """An anchored regex of the expected status codes: "200", "200, 202" or "200-204"."""
    _, codes = graph_values.monitor_expected_codes(hm)
    return "^(" + "|".join(str(code) for code in codes) + ")$"


def _timeout(value: int | None, default: int, name: str) -> int:
    return integer(
        default if value is None else value, f"listener.{name}", limits.TIMEOUT_MS.low, limits.TIMEOUT_MS.high
    )
