"""Make one amphora serve exactly the load balancer's UDP listeners (upstream's LVS steps).

For each UDP listener: render its stream configuration, and unless the amphora holds the
same text already (or the caller forces it), upload it and `reload` the listener (which
starts it). UDP listeners the amphora runs that the graph no longer has are deleted (looked
for when the graph has UDP listener rows, or when the caller forces it: a new, adopted or
recovering amphora).
A listener the amphora refuses (nginx could not bind its port, say) does not keep the
others from being configured; the refusal is raised once they are.
"""

from __future__ import annotations

import logging

from oslo_config import cfg

from ostia.common import exceptions as exc
from ostia.controller.worker import render_nginx_udp
from ostia.controller.worker.drivers import WorkerDrivers
from ostia.db import models
from ostia.drivers.amphora.base import AmphoraRef, RequestTimeouts

LOG = logging.getLogger(__name__)


def configure_udp_listeners(
    conf: cfg.ConfigOpts,
    drivers: WorkerDrivers,
    lb: models.LoadBalancer,
    ref: AmphoraRef,
    timeouts: RequestTimeouts,
    *,
    force: bool,
) -> bool:
    """True if any UDP listener's configuration on the amphora changed."""
    amphora = drivers.amphora
    wanted = render_nginx_udp.udp_listeners(lb)
    # Render all first: a graph that cannot be rendered changes nothing on the amphora.
    configs = {li.id: render_nginx_udp.render_udp_listener_config(lb, li, conf) for li in wanted}
    changed = False
    refused: exc.AgentInvalidRequest | None = None
    for listener_id, config in configs.items():
        if not force and amphora.get_udp_listener_config(ref, listener_id, timeouts) == config:
            continue
        try:
            amphora.upload_udp_listener_config(ref, listener_id, config, timeouts)
            amphora.loadbalancer_action(ref, listener_id, "reload", timeouts)
        except exc.AgentInvalidRequest as error:
            LOG.warning("amphora %s refused UDP listener %s: %s", ref.id, listener_id, error)
            refused = refused or error
            continue
        LOG.info("amphora %s serves UDP listener %s of %s", ref.id, listener_id, lb.id)
        changed = True
    if not force and not may_run_udp(lb):
        return changed
    for entry in amphora.list_listeners(ref, timeouts):
        listener_id = str(entry.get("uuid", ""))
        if entry.get("type") == "UDP" and listener_id not in configs:
            amphora.delete_listeners(ref, listener_id, timeouts)
            LOG.info("amphora %s no longer serves UDP listener %s", ref.id, listener_id)
            changed = True
    if refused is not None:
        raise refused
    return changed


def may_run_udp(lb: models.LoadBalancer) -> bool:
    """Whether an amphora of `lb` may run UDP listeners: one of its listener rows, in any
    status, is UDP. A UDP listener's row leaves the database only when a reconcile settles
    its deletion, after the amphorae stopped it; so without such a row there is nothing
    to look for (the listing costs a call to the agent on every member change)."""
    return any(li.protocol in render_nginx_udp.UDP_PROTOCOLS for li in lb.listeners)
