"""VRRP of an ACTIVE_STANDBY load balancer: keepalived on both amphorae (upstream's VRRP
update and start, after the listeners are configured).

Every reconcile renders both configurations and uploads them; the agent reloads keepalived
only when its configuration changed (a replaced peer, a role swapped after a failover), so
that an unchanged pair keeps its VIP undisturbed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence

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


def configure_vrrp(
    conf: cfg.ConfigOpts,
    db: Database,
    drivers: WorkerDrivers,
    lb: models.LoadBalancer,
    serving: Sequence[AmphoraState],
    check: Callable[[], None],
    fresh: Collection[str] = (),
) -> None:
    """Upload and start keepalived on every serving amphora of `lb` (`fresh`: the ids of
    amphorae built in this reconcile, whose keepalived starts now)."""
    if lb.vip is None or not lb.vip.ip_address or not lb.vip.subnet_id:
        raise ValueError(f"load balancer {lb.id} has no VIP to move")
    subnet = drivers.network.get_subnet(lb.vip.subnet_id)
    vips = [lb.vip.ip_address, *(extra.ip_address for extra in lb.additional_vips if extra.ip_address)]
    ports = {}
    for amp in serving:
        port = vip_port(drivers, lb, amp)
        if port is None:
            raise ValueError(f"amphora {amp.id} has no port on the VIP subnet")
        ports[amp.id] = port
    timeouts = RequestTimeouts.active(conf)
    started = False
    for amp in serving:
        check()
        assert amp.role is not None
        paths = amphora_paths(conf, drivers, amp, {})
        me = VrrpPeerView(
            amphora_id=amp.id,
            role=amp.role,
            vrrp_ip=ports[amp.id].ip_address,
            interface=VIP_INTERFACE,
            check_script=f"{paths.base_path}/vrrp/check_script.sh",
        )
        peers = [ports[other.id].ip_address for other in serving if other.id != amp.id]
        config = render_keepalived_config(conf, lb.id, vips, subnet.cidr, me, peers)
        ref = amphora_ref(conf, amp)
        drivers.amphora.upload_vrrp_config(ref, config, timeouts)
        started |= amp.id in fresh
        drivers.amphora.vrrp_action(ref, "start", timeouts)
        amphorae.update_row(
            db,
            amp.id,
            vrrp_ip=me.vrrp_ip,
            ha_ip=lb.vip.ip_address,
            vrrp_port_id=ports[amp.id].port_id,
            vrrp_interface=VIP_INTERFACE,
            vrrp_id=ROUTER_ID,
            vrrp_priority=PRIORITY[amp.role],
        )
    if started:
        # A keepalived that just started is BACKUP only once it has heard its peer; before
        # that, taking the peer away (a failover's next step) would leave it to its timer.
        time.sleep(_settle_seconds(conf))
    LOG.info("keepalived configured on %d amphorae of %s", len(serving), lb.id)


def _settle_seconds(conf: cfg.ConfigOpts) -> float:
    """About one Master_Down_Interval (3.5 advertisements), at most 5 s."""
    return min(5.0, 3.5 * float(conf.keepalived_vrrp.vrrp_advert_int) + 0.05)


def hand_over_vip(conf: cfg.ConfigOpts, drivers: WorkerDrivers, amp: AmphoraState) -> None:
    """Before an amphora that may hold the VIP is removed: stop its keepalived, which then
    sends priority 0 so that the peer takes the VIP over at once, and give the peer the time
    of that takeover. Removing the amphora outright would stop haproxy with the VIP still on
    it until the peer's timer runs out."""
    try:
        drivers.amphora.vrrp_action(amphora_ref(conf, amp), "stop", RequestTimeouts.once())
    except Exception as exc:  # noqa: BLE001 - a dead agent: nothing to hand over
        LOG.info("amphora %s: keepalived not stopped (%s)", amp.id, exc)
        return
    advert = float(conf.keepalived_vrrp.vrrp_advert_int)
    time.sleep(min(3.0, 2 * advert + 0.05))
