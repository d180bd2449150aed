"""Render one UDP listener as the content of nginx's `stream {}` block.

Upstream serves UDP listeners with keepalived/LVS, which needs the kernel's IP_VS; the
amphora serves them with nginx's stream module instead, one nginx per listener, driven by
the same agent calls (`PUT /1.0/listeners/{amp}/{listener}/udp_listener`, then `reload` of
the listener). The agent wraps this text in its own nginx.conf (module, pid, logs) and
reads the `#ostia:` lines (ostia/amphora/udp_config.py): the pool, the health monitor it
runs itself (nginx has passive checks only) and which `server` line is which member.

Mapping:
- lb_algorithm ROUND_ROBIN: nginx's default (weighted round robin); LEAST_CONNECTIONS:
  `least_conn`; SOURCE_IP, or SOURCE_IP session persistence: `hash $remote_addr consistent`;
  SOURCE_IP_PORT: `hash $remote_addr$remote_port consistent`.
- member weight 0 (drain) and admin-down members, and every member of an admin-down pool:
  `down` (no new sessions). `backup` only where nginx allows it (not with `hash`).
- a health monitor: passive `max_fails=<max_retries_down> fail_timeout=<delay>s` on every
  server, and a `#ostia:check` line for the agent's active check; without one,
  `max_fails=0` (never taken out, as with no monitor upstream).
- `proxy_timeout` is the listener's timeout_client_data (0: nginx's default); `proxy_responses` is
  `[haproxy_amphora] udp_proxy_responses` (0: not limited). allowed_cidrs: `allow`/`deny`.
Not expressible in nginx's stream module and left out (a comment says so): the
listener's connection_limit, persistence_timeout and persistence_granularity.

Every tenant value is re-checked: ids against a strict pattern, addresses re-parsed and
written canonically, numbers within their API limits; no name or free text is written.
"""

from __future__ import annotations

from oslo_config import cfg

from ostia.common import constants, limits
from ostia.controller.worker.haproxy import graph_values
from ostia.controller.worker.haproxy.escape import (
    UnsafeValue,
    check_text,
    cidr,
    ident,
    integer,
)
from ostia.controller.worker.haproxy.l7 import live
from ostia.db import models

UDP_PROTOCOLS = (constants.UDP,)
CHECK_TYPES = (constants.HM_UDP_CONNECT, constants.TCP, constants.HTTP)
# nginx refuses an upstream without servers: a `down` one that never receives anything
# stands in, and datagrams routed to it are dropped.
_NO_SERVER = "server 127.0.0.1:9 down;"
_NO_POOL_UPSTREAM = "no_pool"


def udp_listeners(lb: models.LoadBalancer) -> list[models.Listener]:
    """The UDP listeners the amphorae of `lb` serve (enabled, not leaving, LB enabled)."""
    if not live(lb):
        return []
    chosen = [li for li in lb.listeners if live(li) and li.protocol in UDP_PROTOCOLS]
    return sorted(chosen, key=lambda li: (li.protocol_port, li.id))


def render_udp_listener_config(
    lb: models.LoadBalancer, listener: models.Listener, conf: cfg.ConfigOpts
) -> str:
    """The stream configuration of one UDP listener. Raises UnsafeValue for a value that
    cannot be written safely, HaproxyRenderError when the graph cannot be served."""
    lb_id = ident(lb.id, "load_balancer.id")
    listener_id = ident(listener.id, "listener.id")
    port = integer(listener.protocol_port, "listener.protocol_port", limits.PORT.low, limits.PORT.high)
    lines = [f"# UDP listener {listener_id} of load balancer {lb_id}", f"#ostia:listener {listener_id}"]
    pool = listener.default_pool
    if pool is not None and pool.provisioning_status in (constants.PENDING_DELETE, constants.DELETED):
        pool = None
    upstream = _NO_POOL_UPSTREAM
    if pool is None:
        lines += [f"upstream {upstream} {{", f"    {_NO_SERVER} # no default pool", "}"]
    else:
        if pool.protocol != constants.UDP:
            raise UnsafeValue("pool.protocol", pool.protocol, "not UDP")
        pool_id = ident(pool.id, "pool.id")
        upstream = "pool_" + pool_id.replace("-", "_").replace(".", "_")
        lines.append(f"#ostia:pool {pool_id}")
        lines += _upstream(pool, upstream)
    lines.append("server {")
    for address in graph_values.vip_addresses(lb):
        lines.append(f"    listen {_host(address)}:{port} udp;")
    for value in listener.allowed_cidrs or []:
        lines.append(f"    allow {cidr(value, 'listener.allowed_cidrs')};")
    if listener.allowed_cidrs:
        lines.append("    deny all;")
    if listener.connection_limit not in (None, -1):
        integer(
            listener.connection_limit,
            "listener.connection_limit",
            limits.CONNECTION_LIMIT.low,
            limits.CONNECTION_LIMIT.high,
        )
        lines.append("    # connection_limit is not applied to UDP listeners")
    timeout = listener.timeout_client_data
    if timeout is None:
        timeout = conf.haproxy_amphora.timeout_client_data
    timeout = integer(timeout, "listener.timeout_client_data", limits.TIMEOUT_MS.low, limits.TIMEOUT_MS.high)
    if timeout:  # 0: no idle limit of ours (nginx's own default, ten minutes)
        lines.append(f"    proxy_timeout {timeout}ms;")
    responses = integer(
        conf.haproxy_amphora.udp_proxy_responses, "[haproxy_amphora] udp_proxy_responses", 0, limits.INT32_MAX
    )
    if responses:
        lines.append(f"    proxy_responses {responses};")
    lines.append(f"    proxy_pass {upstream};")
    lines += ["}", ""]
    text = "\n".join(lines)
    for line in lines:  # defence in depth: no value may have added a line
        check_text(line, "rendered configuration")
    return text


def _upstream(pool: models.Pool, name: str) -> list[str]:
    lines = [f"upstream {name} {{"]
    sp = pool.session_persistence
    algorithm = pool.lb_algorithm
    hashed = False
    if algorithm == constants.SOURCE_IP_PORT:
        lines.append("    hash $remote_addr$remote_port consistent;")
        hashed = True
    elif algorithm == constants.SOURCE_IP or (sp is not None and sp.type == constants.SOURCE_IP):
        lines.append("    hash $remote_addr consistent;")
        hashed = True
    elif algorithm == constants.LEAST_CONNECTIONS:
        lines.append("    least_conn;")
    elif algorithm != constants.ROUND_ROBIN:
        raise UnsafeValue("pool.lb_algorithm", algorithm, "unknown algorithm")
    if sp is not None and (sp.persistence_timeout or sp.persistence_granularity):
        lines.append("    # persistence_timeout and persistence_granularity are not applied")
    hm = pool.health_monitor
    if hm is not None and not live(hm):
        hm = None
    passive = "max_fails=0"
    if hm is not None:
        if hm.type not in CHECK_TYPES:
            raise UnsafeValue("healthmonitor.type", hm.type, "not a UDP pool monitor")
        timing = graph_values.monitor_timing(hm)
        # The comment line is read by the agent, not by nginx.
        lines.insert(
            0,
            f"#ostia:check type={hm.type} interval={max(timing.delay, 1)} "
            f"timeout={max(timing.timeout, 1)} rise={timing.rise} fall={timing.fall}"
            + (_http_check(hm) if hm.type == constants.HTTP else ""),
        )
        passive = f"max_fails={timing.fall} fail_timeout={max(timing.delay, 1)}s"
    servers = 0
    for server in graph_values.member_servers(pool):
        lines.append("    " + _server(server, passive, hashed, hm is not None))
        servers += 1
    if not servers:
        lines.append(f"    {_NO_SERVER} # no members")
    lines.append("}")
    return lines


def _http_check(hm: models.HealthMonitor) -> str:
    """The HTTP request of an HTTP monitor, as words of the agent's check line."""
    method = graph_values.monitor_http_method(hm)
    path = graph_values.monitor_url_path(hm)
    codes, _ = graph_values.monitor_expected_codes(hm)
    words = [f"method={method}", f"path={path}", f"codes={codes.replace(' ', '')}"]
    if hm.domain_name:
        words.append("host=" + graph_values.monitor_host(hm))
    return " " + " ".join(words)


def _server(server: graph_values.MemberServer, passive: str, hashed: bool, checked: bool) -> str:
    words = ["server", f"{_host(server.address)}:{server.port}", f"weight={max(server.weight, 1)}", passive]
    if server.member.backup and not hashed:
        words.append("backup")
    if server.admin_down or server.weight == 0:
        words.append("down")
    marks = [f"#ostia:member {server.id}"]
    if server.admin_down:
        marks.append("admin-down")
    elif server.weight == 0:
        marks.append("drain")
    if checked and not server.admin_down:
        check_address = server.monitor_address() or server.address
        check_port = server.monitor_port() or server.port
        marks.append(f"check={_host(check_address)}:{check_port}")
    return " ".join(words) + "; " + " ".join(marks)


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address
