"""Render one load balancer's haproxy configuration (one haproxy process per load balancer).

Paths on the amphora, relative to `[haproxy_amphora] base_path` (`base_path`) and
`base_cert_dir` (`cert_dir`); the agent and the worker follow them:

| what | path |
|---|---|
| configuration | `<base_path>/<lb_id>/haproxy.cfg` |
| pid file (master, master-worker mode) | `<base_path>/<lb_id>/<lb_id>.pid` |
| stats socket, level admin | `<base_path>/<lb_id>.sock` |
| server state (agent: `show servers state` before a reload) | `<base_path>/<lb_id>/servers-state` |
| PING health check script | `<base_path>/ping-wrapper.sh` (installed by the agent) |
| TLS files | `<cert_dir>/<lb_id>/<name>.pem` (`tls_files()`, see tls.py) |

The agent starts haproxy as `haproxy -W -f <cfg> -S <base_path>/<lb_id>/cli -p <pid file>
-L <peer name>` and reloads it with `haproxy -c -L <peer name> -f <cfg>` then `reload` on the
master socket. With peers (ACTIVE_STANDBY) the configuration has a `peers` section with one
line per amphora (`ostia.common.haproxy_peers`); `-L` tells haproxy which line is its own,
so both amphorae run the same sections and the configuration writes no `localpeer`.

Listener frontends are named by listener id, backends `<pool_id>:<listener_id>`; UDP
listeners (served by nginx, render_nginx_udp) and SCTP ones are only mentioned in a
comment. Names, descriptions and other free text of tenants are never written; ids are
checked, every other tenant value is quoted (escape.py) or rejected with UnsafeValue.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import jinja2
from oslo_config import cfg

from ostia.common import constants, haproxy_peers, limits
from ostia.controller.worker.haproxy import tls as haproxy_tls
from ostia.controller.worker.haproxy.backend import (
    BackendContext,
    BackendView,
    backend_name,
    build_backend,
)
from ostia.controller.worker.haproxy.escape import (
    HaproxyRenderError,
    UnsafeValue,
    check_text,
    cidr,
    ident,
    integer,
    ip_address,
    log_format_text,
    quote,
)
from ostia.controller.worker.haproxy.graph_values import vip_addresses
from ostia.controller.worker.haproxy.l7 import FrontendRules, frontend_rules, live
from ostia.db import models

__all__ = [
    "HaproxyRenderError",
    "UnsafeValue",
    "haproxy_listeners",
    "peer_section_name",
    "render_haproxy_config",
    "tls_files",
]

PEER_PORT = haproxy_peers.PEER_PORT
MAX_GLOBAL_MAXCONN = limits.MAX_CONNECTIONS
HAPROXY_PROTOCOLS = (
    constants.HTTP,
    constants.HTTPS,
    constants.TCP,
    constants.TERMINATED_HTTPS,
    constants.PROMETHEUS,
)
_HTTP_MODE = (constants.HTTP, constants.TERMINATED_HTTPS, constants.PROMETHEUS)
_HTTP_ONLY_LOG_TAGS = re.compile(r"%(\{[^}]*\})?(HPO|HM|HP|HQ|HU|HV|CC|CS|Tq|TR|Ta|Ti|Tr|r)(?![A-Za-z])")
_CIDRS_PER_LINE = 50  # haproxy reads at most 64 words a line


@dataclass
class GlobalView:
    lb_id: str
    amphora_id: str
    stats_socket: str
    maxconn: int
    hard_stop_after: int
    server_state_file: str | None
    external_check: bool
    logs: list[str]
    connection_logging: bool
    # This amphora's peer name. Not written by the packaged template: the agent passes it
    # as `-L`, which a `localpeer` line would only repeat (with a warning).
    localpeer: str | None
    peers_section: str | None
    peers: list[str]
    timeout_client: int
    timeout_connect: int
    timeout_server: int
    skipped: list[str]


@dataclass
class FrontendView:
    name: str
    protocol: str
    mode: str
    maxconn: int
    timeout_client: int
    binds: list[str]
    inspect_delay: int | None = None
    log_format: str | None = None
    acls: list[str] = field(default_factory=list)
    tcp_requests: list[str] = field(default_factory=list)
    http_requests: list[str] = field(default_factory=list)
    http_responses: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    rules: FrontendRules = field(default_factory=FrontendRules)
    default_backend: str | None = None
    comments: list[str] = field(default_factory=list)


def haproxy_listeners(
    lb: models.LoadBalancer, leave_out: frozenset[str] = frozenset()
) -> list[models.Listener]:
    """The listeners this load balancer's haproxy serves (enabled, TCP family, not leaving,
    not in `leave_out`).

    When the list is empty haproxy has nothing to bind and refuses to start: the caller
    should stop the load balancer's haproxy instead of pushing a configuration.
    """
    if not live(lb):
        return []
    chosen = [
        li for li in lb.listeners if live(li) and li.protocol in HAPROXY_PROTOCOLS and li.id not in leave_out
    ]
    return sorted(chosen, key=lambda li: (li.protocol_port, li.id))


def peer_section_name(lb_id: str) -> str:
    return ident(lb_id, "load_balancer.id").replace("-", "") + "_peers"


def render_haproxy_config(
    lb: models.LoadBalancer,
    conf: cfg.ConfigOpts,
    *,
    amphora_id: str,
    base_path: str,
    cert_dir: str,
    peers: Sequence[tuple[str, str]] = (),
    log_targets: Sequence[str] = (),
    hard_stop_after: int = 300,
    server_state: bool = True,
    leave_out: frozenset[str] = frozenset(),
) -> str:
    """The haproxy configuration of `lb` as served by amphora `amphora_id`.

    `peers` are (amphora id, vrrp_ip) pairs of every amphora of an ACTIVE_STANDBY load
    balancer, this one included: they share stick tables (persistence) over a `peers`
    section on port 1025; without any (SINGLE) there is no such section. `log_targets` are
    syslog targets (`ip:port`, a socket path); without any, nothing is logged (this machine
    has no /dev/log). `hard_stop_after` (seconds) bounds how long a worker left by a reload
    may keep serving old connections. Listeners whose ids are in `leave_out` are not
    rendered.

    Raises UnsafeValue when a value cannot be written safely, HaproxyRenderError when the
    graph cannot be served (a TLS listener without certificate, a load balancer without VIP).
    """
    lb_id = ident(lb.id, "load_balancer.id")
    amphora_id = ident(amphora_id, "amphora_id")
    haproxy_conf = conf.haproxy_amphora
    listeners = haproxy_listeners(lb, leave_out)
    section = peer_section_name(lb_id) if peers else None
    lb_cert_dir = haproxy_tls.lb_cert_dir(cert_dir, lb_id)

    logging = bool(log_targets) and haproxy_conf.connection_logging
    frontends: list[FrontendView] = []
    backends: list[BackendView] = []
    for listener in listeners:
        frontend, listener_backends = _listener(
            listener,
            lb,
            conf,
            base_path=base_path,
            lb_cert_dir=lb_cert_dir,
            peers_section=section,
            logging=logging,
        )
        frontends.append(frontend)
        backends.extend(listener_backends)

    external_check = any("external-check" in b.options for b in backends)
    total = sum(f.maxconn for f in frontends) or haproxy_conf.default_connection_limit
    global_view = GlobalView(
        lb_id=lb_id,
        amphora_id=amphora_id,
        stats_socket=quote(f"{base_path}/{lb_id}.sock", "base_path"),
        maxconn=min(total, MAX_GLOBAL_MAXCONN),
        hard_stop_after=integer(hard_stop_after, "hard_stop_after", 1, 86400 * 365),
        server_state_file=(
            quote(f"{base_path}/{lb_id}/servers-state", "base_path") if server_state else None
        ),
        external_check=external_check,
        logs=_log_lines(conf, log_targets),
        connection_logging=logging,
        localpeer=haproxy_peers.peer_name(amphora_id) if peers else None,
        peers_section=section,
        peers=_peer_lines(peers, amphora_id),
        timeout_client=haproxy_conf.timeout_client_data,
        timeout_connect=haproxy_conf.timeout_member_connect,
        timeout_server=haproxy_conf.timeout_member_data,
        skipped=[
            f"listener {ident(li.id, 'listener.id')} ({_protocol(li)}) is not served by haproxy"
            for li in lb.listeners
            if li.protocol not in HAPROXY_PROTOCOLS and live(li)
        ],
    )
    if len(f"{base_path}/{lb_id}.sock") > constants.HAPROXY_MAX_SOCKET_PATH:
        raise HaproxyRenderError(
            f"stats socket path under {base_path!r} is longer than haproxy's limit of "
            f"{constants.HAPROXY_MAX_SOCKET_PATH} characters; use a shorter base_path"
        )
    template = _template(haproxy_conf.haproxy_template or None)
    text = template.render(g=global_view, frontends=frontends, backends=backends)
    # Defence in depth: whatever slipped through, no control character may leave here.
    for line in text.split("\n"):
        check_text(line, "rendered configuration")
    return text


def tls_files(
    lb: models.LoadBalancer, cert_manager: haproxy_tls.CertSource, *, cert_dir: str
) -> dict[str, bytes]:
    """File name -> content of every TLS file the configuration of `lb` reads.

    The worker uploads each to `<cert_dir>/<lb_id>/<name>` before pushing the configuration.
    Server certificates come from `cert_manager.get_cert(project_id, ref)` (certificate,
    intermediates, private key decrypted with its passphrase); CA bundles and CRLs from
    `get_secret(project_id, ref)` (by default the certificate part of a container).
    """
    listeners = haproxy_listeners(lb)
    pools = {pool.id: pool for li in listeners for pool in _listener_pools(li)}
    return haproxy_tls.collect_tls_files(
        lb, cert_manager, cert_dir=cert_dir, listeners=listeners, pools=pools.values()
    )


def _listener_pools(listener: models.Listener) -> list[models.Pool]:
    """Pools a listener routes to (default pool first), each once, leaving ones left out."""
    pools: dict[str, models.Pool] = {}
    if listener.default_pool is not None and live_pool(listener.default_pool):
        pools[listener.default_pool.id] = listener.default_pool
    if listener.protocol in _HTTP_MODE:
        for policy in listener.l7policies:
            pool = policy.redirect_pool
            if policy.action == "REDIRECT_TO_POOL" and live(policy) and pool is not None and live_pool(pool):
                pools.setdefault(pool.id, pool)
    return list(pools.values())


def live_pool(pool: models.Pool) -> bool:
    """Pools rendered as backends: admin-down pools stay (all servers disabled)."""
    return pool.provisioning_status not in (constants.PENDING_DELETE, constants.DELETED)


def _listener(
    listener: models.Listener,
    lb: models.LoadBalancer,
    conf: cfg.ConfigOpts,
    *,
    base_path: str,
    lb_cert_dir: str,
    peers_section: str | None,
    logging: bool,
) -> tuple[FrontendView, list[BackendView]]:
    haproxy_conf = conf.haproxy_amphora
    listener_id = ident(listener.id, "listener.id")
    mode = "http" if listener.protocol in _HTTP_MODE else "tcp"
    limit = listener.connection_limit
    maxconn = (
        haproxy_conf.default_connection_limit
        if limit is None or limit < 0
        else integer(limit, "listener.connection_limit", 0, limits.CONNECTION_LIMIT.high)
    )
    port = integer(listener.protocol_port, "listener.protocol_port", limits.PORT.low, limits.PORT.high)
    tls = haproxy_tls.listener_tls(listener)
    tls_words = haproxy_tls.bind_options(listener, tls, lb_cert_dir, conf.api_settings) if tls else []
    frontend = FrontendView(
        name=listener_id,
        protocol=listener.protocol,
        mode=mode,
        maxconn=maxconn,
        timeout_client=_ms(
            listener.timeout_client_data, haproxy_conf.timeout_client_data, "timeout_client_data"
        ),
        binds=[" ".join([f"{address}:{port}", *tls_words]) for address in vip_addresses(lb)],
    )
    inspect = _ms(listener.timeout_tcp_inspect, haproxy_conf.timeout_tcp_inspect, "timeout_tcp_inspect")
    frontend.inspect_delay = inspect or None
    _allowed_cidrs(frontend, listener)
    if mode == "http":
        # Zero-error reloads: an old worker answers one last request with
        # `Connection: close` instead of closing an idle keep-alive connection under it.
        frontend.options.append("idle-close-on-response")
    if listener.protocol == constants.TERMINATED_HTTPS and listener.hsts_max_age is not None:
        frontend.http_responses.append(_hsts(listener))
    if listener.protocol == constants.PROMETHEUS:
        frontend.http_requests += [
            "use-service prometheus-exporter if { path /metrics }",
            "return status 404",
        ]
    if logging:
        frontend.log_format = _log_format(conf, lb, mode)

    ctx = BackendContext(
        listener=listener,
        listener_mode=mode,
        conf=conf,
        base_path=base_path,
        lb_cert_dir=lb_cert_dir,
        peers_section=peers_section,
    )
    backends = {pool.id: build_backend(pool, ctx) for pool in _listener_pools(listener)}
    if mode == "http":
        frontend.rules = frontend_rules(
            listener, lambda pool: backends[pool.id].name if pool.id in backends else None
        )
    elif any(live(p) for p in listener.l7policies):
        frontend.comments.append("L7 policies need an HTTP listener; not applied")
    default_pool = listener.default_pool
    if default_pool is not None and default_pool.id in backends:
        frontend.default_backend = backend_name(default_pool, listener)
    elif listener.protocol != constants.PROMETHEUS:
        frontend.comments.append("no default pool: unmatched requests answer 503")
    return frontend, list(backends.values())


def _allowed_cidrs(frontend: FrontendView, listener: models.Listener) -> None:
    cidrs = [cidr(value, "listener.allowed_cidrs") for value in listener.allowed_cidrs or []]
    if not cidrs:
        return
    for start in range(0, len(cidrs), _CIDRS_PER_LINE):
        chunk = " ".join(cidrs[start : start + _CIDRS_PER_LINE])
        frontend.acls.append(f"ostia_allowed_cidr src {chunk}")
    frontend.tcp_requests.append("connection reject unless ostia_allowed_cidr")


def _protocol(listener: models.Listener) -> str:
    """The listener's protocol, written in a comment: one of the known names only."""
    if listener.protocol not in constants.LISTENER_PROTOCOLS:
        raise UnsafeValue("listener.protocol", listener.protocol, "unknown protocol")
    return str(listener.protocol)


def _hsts(listener: models.Listener) -> str:
    max_age = integer(
        listener.hsts_max_age, "listener.hsts_max_age", limits.HSTS_MAX_AGE.low, limits.HSTS_MAX_AGE.high
    )
    value = f"max-age={max_age}"
    if listener.hsts_include_subdomains:
        value += "; includeSubDomains"
    if listener.hsts_preload:
        value += "; preload"
    return f"set-header Strict-Transport-Security {quote(value, 'hsts')}"


def _log_lines(conf: cfg.ConfigOpts, targets: Sequence[str]) -> list[str]:
    agent = conf.amphora_agent
    lines = []
    for target in targets:
        where = quote(target, "log target")
        lines.append(f"{where} local{int(agent.user_log_facility)}")
        lines.append(f"{where} local{int(agent.administrative_log_facility)} notice")
    return lines


def _log_format(conf: cfg.ConfigOpts, lb: models.LoadBalancer, mode: str) -> str:
    fmt = conf.haproxy_amphora.user_log_format
    fmt = fmt.replace("{{ project_id }}", log_format_text(lb.project_id or "-", "project_id"))
    fmt = fmt.replace("{{ lb_id }}", lb.id)
    if mode == "tcp":
        # haproxy refuses HTTP-only tags (%r, %HU, ...) in a TCP frontend's log-format.
        fmt = _HTTP_ONLY_LOG_TAGS.sub("-", fmt)
    return quote(fmt, "[haproxy_amphora] user_log_format")


def _peer_lines(peers: Sequence[tuple[str, str]], amphora_id: str) -> list[str]:
    """`<name> <address>:<port>` of each peer; an IPv6 address needs no brackets here
    (haproxy splits the port off at the last colon)."""
    lines = []
    for peer_id, address in peers:
        name = haproxy_peers.peer_name(ident(peer_id, "peer id"))
        lines.append(f"{name} {ip_address(address, 'peer address')}:{PEER_PORT}")
    if peers and amphora_id not in {peer_id for peer_id, _ in peers}:
        raise HaproxyRenderError(f"amphora {amphora_id} is not among the peers")
    for words in ([line.split()[0] for line in lines], [line.split()[1] for line in lines]):
        if len(set(words)) != len(words):
            raise HaproxyRenderError(f"peers of amphora {amphora_id} repeat a name or address: {peers}")
    return lines


def _ms(value: int | None, default: int, name: str) -> int:
    return integer(
        default if value is None else value, f"listener.{name}", limits.TIMEOUT_MS.low, limits.TIMEOUT_MS.high
    )


@functools.cache
def _template(custom: str | None) -> jinja2.Template:
    """The packaged template, or `[haproxy_amphora] haproxy_template` when set (it receives
    the same `g`, `frontends` and `backends` view objects)."""
    loader: jinja2.BaseLoader
    if custom:
        loader = jinja2.FileSystemLoader(os.path.dirname(os.path.abspath(custom)))
        name = os.path.basename(custom)
    else:
        loader = jinja2.PackageLoader("ostia.controller.worker.haproxy", "templates")
        name = "haproxy.cfg.j2"
    env = jinja2.Environment(
        loader=loader,
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template(name)
