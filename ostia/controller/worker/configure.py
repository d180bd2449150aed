"""Make one amphora serve one load balancer's stored graph (Octavia's listener update).

Order per amphora, as upstream: agent answers, VIP plugged (new, adopted or recovering
amphorae only), TLS files present, the full haproxy configuration pushed, haproxy reloaded.
Each call is idempotent; the configuration push and reload are skipped when the agent
already holds exactly this configuration (md5 comparison, like the agent's ETag) unless the
caller asks for a reload anyway.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from oslo_config import cfg

from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.controller.worker.drivers import WorkerDrivers
from ostia.controller.worker.graph import AmphoraState
from ostia.controller.worker.haproxy import render as render_haproxy
from ostia.controller.worker.udp_listeners import configure_udp_listeners
from ostia.db import models
from ostia.drivers.amphora.base import AmphoraRef, RequestTimeouts
from ostia.drivers.network.base import AmphoraPort

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class AmphoraPaths:
    """Where the amphora keeps haproxy files and TLS files (the renderer needs both)."""

    base_path: str
    cert_dir: str


def amphora_ref(conf: cfg.ConfigOpts, amp: AmphoraState) -> AmphoraRef:
    if not amp.lb_network_ip:
        raise exc.AmphoraUnreachable(f"amphora {amp.id} has no management address yet")
    return AmphoraRef(id=amp.id, lb_network_ip=amp.lb_network_ip, api_port=conf.haproxy_amphora.bind_port)


def agent_wait_seconds(conf: cfg.ConfigOpts, booting: bool) -> float:
    """How long to wait for an agent: a boot gets the full budget, a running one less."""
    options = conf.haproxy_amphora
    if booting:
        return float(options.connection_max_retries * options.connection_retry_interval)
    return float(options.active_connection_max_retries * options.active_connection_retry_interval)


def amphora_paths(
    conf: cfg.ConfigOpts, drivers: WorkerDrivers, amp: AmphoraState, info: dict[str, Any]
) -> AmphoraPaths:
    """The amphora's base_path and base_cert_dir.

    Preference: what the agent reports, then what the compute driver knows about the
    instance, then `[haproxy_amphora]` (right for amphorae built from an image).
    """
    if info.get("base_path") and info.get("base_cert_dir"):
        return AmphoraPaths(str(info["base_path"]), str(info["base_cert_dir"]))
    if amp.compute_id:
        found = drivers.compute.instance_paths(amp.compute_id)
        if found:
            return AmphoraPaths(*found)
    options = conf.haproxy_amphora
    return AmphoraPaths(options.base_path, options.base_cert_dir)


def vip_net_info(drivers: WorkerDrivers, lb: models.LoadBalancer) -> tuple[str, dict[str, Any]]:
    """The plug/vip address and body for the load balancer's VIP."""
    vip = lb.vip
    if vip is None or not vip.ip_address:
        raise render_haproxy.HaproxyRenderError(f"load balancer {lb.id} has no VIP address")
    subnet = drivers.network.get_subnet(vip.subnet_id) if vip.subnet_id else None
    body: dict[str, Any] = {
        "subnet_cidr": subnet.cidr if subnet else f"{vip.ip_address}/32",
        "gateway": subnet.gateway_ip if subnet else None,
        "mac_address": _mac_for(vip.port_id or lb.id),
        "host_routes": [],
        "additional_vips": [],
    }
    for extra in lb.additional_vips:
        if not extra.ip_address:
            continue
        extra_subnet = drivers.network.get_subnet(extra.subnet_id)
        body["additional_vips"].append(
            {
                "ip_address": extra.ip_address,
                "subnet_cidr": extra_subnet.cidr,
                "gateway": extra_subnet.gateway_ip,
                "host_routes": [],
            }
        )
    return vip.ip_address, body


def vip_port(drivers: WorkerDrivers, lb: models.LoadBalancer, amp: AmphoraState) -> AmphoraPort | None:
    """The amphora's port on the VIP subnet, plugged now if it has none yet; None when the
    drivers have no ports (local amphorae bind VIPs on loopback)."""
    namespace = _port_namespace(drivers, amp)
    if namespace is None or lb.vip is None or not lb.vip.subnet_id:
        return None
    subnet = drivers.network.get_subnet(lb.vip.subnet_id)
    return drivers.network.plug_amphora_port(namespace, subnet, amp.id)


def _port_namespace(drivers: WorkerDrivers, amp: AmphoraState) -> str | None:
    if not drivers.network.plugs_amphora_ports or not amp.compute_id:
        return None
    return drivers.compute.network_namespace(amp.compute_id)


def haproxy_peers(
    drivers: WorkerDrivers, lb: models.LoadBalancer, serving: Sequence[AmphoraState]
) -> list[tuple[str, str]]:
    """(amphora id, vrrp_ip) of each amphora of a pair, for the haproxy `peers` section
    that shares persistence tables between them (plugging the VIP port of an amphora that
    has none yet, as configure_amphora would)."""
    peers = []
    for amp in serving:
        port = vip_port(drivers, lb, amp)
        if port is None:
            raise ValueError(f"amphora {amp.id} has no port on the VIP subnet")
        peers.append((amp.id, port.ip_address))
    return peers


def plug_member_networks(
    drivers: WorkerDrivers,
    lb: models.LoadBalancer,
    amp: AmphoraState,
    ref: AmphoraRef,
    timeouts: RequestTimeouts,
) -> None:
    """A port on every member subnet other than the VIP's (upstream's plug/network)."""
    namespace = _port_namespace(drivers, amp)
    if namespace is None:
        return
    named = {member.subnet_id for pool in lb.pools for member in pool.members if member.subnet_id}
    if not named:
        return
    vip_subnet = (
        drivers.network.get_subnet(lb.vip.subnet_id).id if lb.vip is not None and lb.vip.subnet_id else None
    )
    subnets = {s.id: s for s in map(drivers.network.get_subnet, sorted(named))}
    for subnet in subnets.values():
        if subnet.id == vip_subnet:
            continue
        port = drivers.network.plug_amphora_port(namespace, subnet, amp.id)
        drivers.amphora.plug_network(
            ref,
            {
                "mac_address": port.mac_address,
                "fixed_ips": [{"ip_address": port.ip_address, "subnet_cidr": subnet.cidr}],
            },
            timeouts,
        )


def _mac_for(seed: str) -> str:
    # No real port exists for a loopback VIP; a stable, locally administered MAC keeps
    # the agent's payload valid and the same on every reconcile.
    digest = hashlib.sha256(seed.encode()).digest()
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in digest[:3])


def configure_amphora(
    conf: cfg.ConfigOpts,
    drivers: WorkerDrivers,
    lb: models.LoadBalancer,
    amp: AmphoraState,
    *,
    booting: bool,
    force_reload: bool,
    check: Any = None,
    peers: Sequence[tuple[str, str]] = (),
) -> bool:
    """Bring one amphora to serve `lb`; True if its haproxy or UDP listener configuration
    changed. `peers` (haproxy_peers) for an ACTIVE_STANDBY pair, none for SINGLE.

    `check` (no arguments) runs between calls: the reconciler passes its lease check so
    that a worker that lost the load balancer stops at the next call.
    """

    def between() -> None:
        if check is not None:
            check()

    amphora = drivers.amphora
    ref = amphora_ref(conf, amp)
    paths = _agent_paths(conf, drivers, amp, ref, booting=booting)
    timeouts = RequestTimeouts.active(conf)
    between()
    if booting or force_reload:
        # Plugged once per amphora, as upstream: on build, adoption and recovery only.
        vip, net_info = vip_net_info(drivers, lb)
        port = vip_port(drivers, lb, amp)
        if port is not None:
            net_info["mac_address"] = port.mac_address
            if (lb.topology or conf.controller_worker.loadbalancer_topology) == c.TOPOLOGY_ACTIVE_STANDBY:
                # With a vrrp_ip the agent leaves the VIP to keepalived (whatever topology
                # the amphora was built for: a spare may serve either).
                net_info["vrrp_ip"] = port.ip_address
        amphora.plug_vip(ref, vip, net_info, timeouts)
        between()
    plug_member_networks(drivers, lb, amp, ref, timeouts)
    # UDP listeners run in processes of their own (nginx), next to the LB's haproxy.
    udp_changed = configure_udp_listeners(conf, drivers, lb, ref, timeouts, force=force_reload)
    between()
    if not render_haproxy.haproxy_listeners(lb):
        # Nothing to bind (no listener, or the LB is admin-down): haproxy must not run.
        drivers.memo.learn_config(amp.id, lb.id, None)
        amphora.delete_listeners(ref, lb.id, timeouts)
        return udp_changed
    for name, pem in render_haproxy.tls_files(lb, drivers.cert_manager, cert_dir=paths.cert_dir).items():
        amphora.ensure_lb_certificate(ref, lb.id, name, pem, timeouts)
    between()
    config = render_haproxy.render_haproxy_config(
        lb, conf, amphora_id=amp.id, base_path=paths.base_path, cert_dir=paths.cert_dir, peers=peers
    )
    wanted = hashlib.md5(config.encode()).hexdigest()
    if not force_reload and _may_run_already(drivers, amp, lb.id, wanted):
        if _current_md5(drivers, ref, lb.id, timeouts) == wanted:
            drivers.memo.learn_config(amp.id, lb.id, wanted)
            LOG.debug("amphora %s already runs this configuration of %s", amp.id, lb.id)
            return udp_changed
    # Unknown until the reload says so (a refused one leaves the previous configuration).
    drivers.memo.learn_config(amp.id, lb.id, None)
    try:
        amphora.upload_haproxy_config(ref, lb.id, config, timeouts)
        between()
        amphora.reload_loadbalancer(ref, lb.id, timeouts)
    except exc.AgentInvalidRequest:
        if booting:
            _serve_without_refused_listeners(conf, drivers, lb, amp, ref, paths, timeouts, peers)
        raise
    drivers.memo.learn_config(amp.id, lb.id, wanted)
    LOG.info("amphora %s serves load balancer %s (config %s)", amp.id, lb.id, wanted[:8])
    return True


def _agent_paths(
    conf: cfg.ConfigOpts, drivers: WorkerDrivers, amp: AmphoraState, ref: AmphoraRef, *, booting: bool
) -> AmphoraPaths:
    """The amphora's paths, once its agent answers. An amphora whose agent answered this
    process since its instance was built (a running one, or a spare the housekeeper of an
    all-in-one process started) is not asked again: see amphora_memo."""
    known = drivers.memo.paths(amp.id)
    if known is not None:
        return known
    info = drivers.amphora.wait_for_agent(ref, agent_wait_seconds(conf, booting))
    paths = amphora_paths(conf, drivers, amp, info)
    drivers.memo.learn_paths(amp.id, paths)
    return paths


def _may_run_already(drivers: WorkerDrivers, amp: AmphoraState, lb_id: str, wanted: str) -> bool:
    """False when this worker knows the amphora runs another configuration (it pushed or
    read that one last): then the current one need not be read back before the push."""
    known = drivers.memo.config_md5(amp.id, lb_id)
    return known is None or known == wanted


def _serve_without_refused_listeners(
    conf: cfg.ConfigOpts,
    drivers: WorkerDrivers,
    lb: models.LoadBalancer,
    amp: AmphoraState,
    ref: AmphoraRef,
    paths: AmphoraPaths,
    timeouts: RequestTimeouts,
    peers: Sequence[tuple[str, str]],
) -> None:
    """A new amphora refused the full configuration: run it without the listeners in ERROR.

    A running amphora keeps the last configuration that worked when it refuses one; a new
    one (a failover while a listener is broken) has none, and would serve nothing. The
    listeners in ERROR are those the data plane refused before, so the others are served
    without them. The reconcile fails all the same: the load balancer stays in ERROR.
    """
    refused = frozenset(li.id for li in lb.listeners if li.provisioning_status == c.ERROR)
    if not refused or not render_haproxy.haproxy_listeners(lb, refused):
        return
    config = render_haproxy.render_haproxy_config(
        lb,
        conf,
        amphora_id=amp.id,
        base_path=paths.base_path,
        cert_dir=paths.cert_dir,
        peers=peers,
        leave_out=refused,
    )
    try:
        drivers.amphora.upload_haproxy_config(ref, lb.id, config, timeouts)
        drivers.amphora.reload_loadbalancer(ref, lb.id, timeouts)
    except exc.DriverError as error:
        LOG.warning(
            "amphora %s refused load balancer %s without its listeners in ERROR too: %s", amp.id, lb.id, error
        )
        return
    LOG.warning(
        "amphora %s serves load balancer %s without its listeners in ERROR (%s)",
        amp.id,
        lb.id,
        ", ".join(sorted(refused)),
    )


def _current_md5(
    drivers: WorkerDrivers, ref: AmphoraRef, lb_id: str, timeouts: RequestTimeouts
) -> str | None:
    try:
        current = drivers.amphora.get_haproxy_config(ref, lb_id, timeouts)
    except exc.AgentNotFound:
        return None
    return hashlib.md5(current.encode()).hexdigest() if current else None
