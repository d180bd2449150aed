"""VRRP of an ACTIVE_STANDBY load balancer: keepalived on both amphorae (upstream's VRRP
update and start, after the listeners are configured).

Every reconcile renders both configurations and uploads them; the agent reloads keepalived
only when its configuration changed (a replaced peer, a role swapped after a failover), so
that an unchanged pair keeps its VIP undisturbed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from oslo_config import cfg

from ostia.controller.worker import amphorae
from ostia.controller.worker.configure import amphora_paths, amphora_ref, vip_port
from ostia.controller.worker.drivers import WorkerDrivers
from ostia.controller.worker.graph import AmphoraState
from ostia.controller.worker.render_keepalived import (
    PRIORITY,
    ROUTER_ID,
    VrrpPeerView,
    render_keepalived_config,
)
from ostia.db import models
from ostia.db.session import Database
from ostia.drivers.amphora.base import RequestTimeouts

LOG = logging.getLogger(__name__)
VIP_INTERFACE = "eth1"


def configure_vrrp(conf: cfg.ConfigOpts, db: Database, drivers: WorkerDrivers,
                   lb: models.LoadBalancer, serving: Sequence[AmphoraState],
                   check: Callable[[], None]) -> None:
    """Upload and start keepalived on every serving amphora of `lb`."""
    if lb.vip is None or not lb.vip.ip_address or not lb.vip.subnet_id:
        raise ValueError(f"load balancer {lb.id} has no VIP to move")
    subnet = drivers.network.get_subnet(lb.vip.subnet_id)
    vips = [lb.vip.ip_address, *(extra.ip_address for extra in lb.additional_vips
                                 if extra.ip_address)]
    ports = {}
    for amp in serving:
        port = vip_port(drivers, lb, amp)
        if port is None:
            raise ValueError(f"amphora {amp.id} has no port on the VIP subnet")
        ports[amp.id] = port
    timeouts = RequestTimeouts.active(conf)
    for amp in serving:
        check()
        assert amp.role is not None
        paths = amphora_paths(conf, drivers, amp, {})
        me = VrrpPeerView(amphora_id=amp.id, role=amp.role, vrrp_ip=ports[amp.id].ip_address,
                          interface=VIP_INTERFACE,
                          check_script=f"{paths.base_path}/vrrp/check_script.sh")
        peers = [ports[other.id].ip_address for other in serving if other.id != amp.id]
        config = render_keepalived_config(conf, lb.id, vips, subnet.cidr, me, peers)
        ref = amphora_ref(conf, amp)
        drivers.amphora.upload_vrrp_config(ref, config, timeouts)
        drivers.amphora.vrrp_action(ref, "start", timeouts)
        amphorae.update_row(db, amp.id, vrrp_ip=me.vrrp_ip, ha_ip=lb.vip.ip_address,
                            vrrp_port_id=ports[amp.id].port_id, vrrp_interface=VIP_INTERFACE,
                            vrrp_id=ROUTER_ID, vrrp_priority=PRIORITY[amp.role])
    LOG.info("keepalived configured on %d amphorae of %s", len(serving), lb.id)
