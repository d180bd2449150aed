"""The reconcile steps of one load balancer, each safe to run again after any interruption.

`converge` drives a PENDING_CREATE/PENDING_UPDATE load balancer to its stored graph:
ensure the amphorae the topology needs (adopting or rebuilding half-built ones, replacing
dead ones and those marked for failover), configure every serving amphora, then delete the
replaced ones. `tear_down` removes every amphora of a PENDING_DELETE load balancer.
Neither writes the load balancer's status: the reconciler settles it afterwards.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from oslo_config import cfg

from ostia.common import constants as c
from ostia.controller.worker import amphorae
from ostia.controller.worker.configure import configure_amphora, haproxy_peers
from ostia.controller.worker.drivers import WorkerDrivers
from ostia.controller.worker.graph import AmphoraState, Snapshot
from ostia.controller.worker.spares import take_spare
from ostia.controller.worker.vrrp import configure_vrrp, hand_over_vip
from ostia.db.session import Database

LOG = logging.getLogger(__name__)


class PermanentError(Exception):
    """Retrying cannot help (unsupported topology, unrenderable graph): ERROR at once."""


@dataclasses.dataclass
class StepContext:
    conf: cfg.ConfigOpts
    db: Database
    drivers: WorkerDrivers
    snapshot: Snapshot
    # Raises LeaseLost when another worker may hold the load balancer now.
    check: Callable[[], None]


@dataclasses.dataclass(frozen=True)
class Converged:
    serving: tuple[AmphoraState, ...]
    changed: bool


def topology_of(ctx: StepContext) -> str:
    return ctx.snapshot.lb.topology or ctx.conf.controller_worker.loadbalancer_topology


def required_roles(ctx: StepContext) -> list[str]:
    topology = topology_of(ctx)
    if topology == c.TOPOLOGY_SINGLE:
        return [c.ROLE_STANDALONE]
    if topology == c.TOPOLOGY_ACTIVE_STANDBY:
        check_active_standby(ctx.conf, ctx.drivers)
        return [c.ROLE_MASTER, c.ROLE_BACKUP]
    raise PermanentError(f"unknown topology {topology!r}")


def check_active_standby(conf: cfg.ConfigOpts, drivers: WorkerDrivers) -> None:
    """PermanentError naming the missing capability when the drivers cannot do VRRP."""
    worker = conf.controller_worker
    if not drivers.compute.supports_active_standby:
        raise PermanentError(
            "ACTIVE_STANDBY topology needs amphorae that can run keepalived "
            "(compute driver capability supports_active_standby, e.g. compute_netns_driver); "
            f"the configured compute driver {worker.compute_driver} lacks it. Use SINGLE."
        )
    if not drivers.network.plugs_amphora_ports:
        raise PermanentError(
            "ACTIVE_STANDBY topology needs a VIP that can move between amphorae "
            "(network driver capability plugs_amphora_ports, e.g. network_netns_driver); "
            f"the configured network driver {worker.network_driver} lacks it. Use SINGLE."
        )


def converge(ctx: StepContext) -> Converged:
    lb = ctx.snapshot.lb
    roles = required_roles(ctx)
    # Anything after a previous attempt began (a crash, a failure) may have left an
    # amphora with a configuration that was uploaded but never loaded: reload then.
    recovering = ctx.snapshot.attempt > 1
    serving: list[AmphoraState] = []
    retiring: list[AmphoraState] = []
    fresh: set[str] = set()
    building: list[AmphoraState] = []
    for amp in ctx.snapshot.amphorae:
        if (
            amp.status == c.AMPHORA_ALLOCATED
            and amp.role in roles
            and amp.role not in {a.role for a in serving}
            and amphorae.instance_alive(ctx.drivers, amp)
        ):
            serving.append(amp)
        elif amp.status == c.AMPHORA_ALLOCATED:
            LOG.warning("amphora %s of load balancer %s is gone or not needed: replacing it", amp.id, lb.id)
            amphorae.update_row(ctx.db, amp.id, expect=(c.AMPHORA_ALLOCATED,), status=c.PENDING_DELETE)
            retiring.append(dataclasses.replace(amp, status=c.PENDING_DELETE))
        elif amp.status in amphorae.BUILDING:
            building.append(amp)
        else:  # PENDING_DELETE (failover requested, deleted by hand), ERROR, anything else
            retiring.append(amp)
    for amp in building:
        # A build an earlier attempt started (and maybe a crash cut short): finish it,
        # unless its role is served already (then it is surplus).
        if amp.role not in roles or amp.role in {a.role for a in serving}:
            retiring.append(amp)
            continue
        ctx.check()
        amp = amphorae.ensure_instance(ctx.conf, ctx.db, ctx.drivers, amp, topology_of(ctx))
        serving.append(amp)
        fresh.add(amp.id)
    changed = False
    topology = topology_of(ctx)
    deferred: AmphoraState | None = None
    if topology == c.TOPOLOGY_ACTIVE_STANDBY and not serving:
        running = [a for a in retiring if a.role in roles and amphorae.instance_alive(ctx.drivers, a)]
        if running:
            # Both amphorae of a pair to replace (a load balancer failover): one at a time,
            # so that one of them serves throughout. The MASTER (holding the VIP) goes last.
            deferred = next((a for a in running if a.role == c.ROLE_MASTER), running[0])
            retiring.remove(deferred)
            serving.append(deferred)
    if topology == c.TOPOLOGY_ACTIVE_STANDBY:
        serving = _promote_backup(ctx, serving)
    for amp in list(retiring):
        # A dead amphora goes first: a killed keepalived leaves the VIP on its interface and
        # only removing the amphora takes it away (two owners of one address otherwise).
        # With ACTIVE_STANDBY a failed one goes first too when its peer still serves.
        alive = amphorae.instance_alive(ctx.drivers, amp)
        if not alive or (topology == c.TOPOLOGY_ACTIVE_STANDBY and serving):
            ctx.check()
            if alive:
                hand_over_vip(ctx.conf, ctx.drivers, amp)
            amphorae.destroy(ctx.db, ctx.drivers, amp)
            retiring.remove(amp)
            changed = True
    changed |= _serve_every_role(ctx, roles, serving, fresh, recovering)
    if deferred is not None:
        # The new BACKUP runs and keepalived knows it: removing the old MASTER now (its
        # keepalived sends priority 0 as it stops) costs one VRRP takeover.
        ctx.check()
        hand_over_vip(ctx.conf, ctx.drivers, deferred)
        amphorae.destroy(ctx.db, ctx.drivers, deferred)
        serving = _promote_backup(ctx, [a for a in serving if a.id != deferred.id])
        fresh.clear()  # configured already: no second plug and forced reload for those
        _serve_every_role(ctx, roles, serving, fresh, recovering)
        changed = True
    for amp in retiring:
        ctx.check()
        amphorae.destroy(ctx.db, ctx.drivers, amp)
        changed = True
    return Converged(serving=tuple(serving), changed=changed)


def _serve_every_role(
    ctx: StepContext, roles: list[str], serving: list[AmphoraState], fresh: set[str], recovering: bool
) -> bool:
    """Build (or take a spare for) every role nobody serves, configure every serving
    amphora, then VRRP for a pair; `serving` and `fresh` grow. True if a haproxy
    configuration changed."""
    lb = ctx.snapshot.lb
    topology = topology_of(ctx)
    missing = [role for role in roles if role not in {a.role for a in serving}]
    for role in missing:
        ctx.check()
        taken = take_spare(ctx.conf, ctx.db, ctx.drivers, lb.id, role)
        if taken is None:
            row = amphorae.insert_row(ctx.db, lb.id, role)
            taken = amphorae.ensure_instance(ctx.conf, ctx.db, ctx.drivers, row, topology, inserted_now=True)
        serving.append(taken)
        fresh.add(taken.id)
    changed = False
    # A pair shares its persistence tables (haproxy peers) over the VIP subnet.
    peers = haproxy_peers(ctx.drivers, lb, serving) if topology == c.TOPOLOGY_ACTIVE_STANDBY else []
    for amp in serving:
        ctx.check()
        booting = amp.id in fresh
        changed |= configure_amphora(
            ctx.conf,
            ctx.drivers,
            lb,
            amp,
            booting=booting,
            force_reload=booting or recovering,
            check=ctx.check,
            peers=peers,
        )
    if topology == c.TOPOLOGY_ACTIVE_STANDBY:
        configure_vrrp(ctx.conf, ctx.db, ctx.drivers, lb, serving, ctx.check, fresh)
    return changed


def _promote_backup(ctx: StepContext, serving: list[AmphoraState]) -> list[AmphoraState]:
    """With the MASTER gone, the serving BACKUP (which keepalived has made the VRRP master)
    becomes the MASTER, so that the replacement is built as the new BACKUP."""
    roles = {amp.role for amp in serving}
    if c.ROLE_MASTER in roles or c.ROLE_BACKUP not in roles:
        return serving
    promoted = []
    for amp in serving:
        if amp.role == c.ROLE_BACKUP:
            amphorae.update_row(ctx.db, amp.id, role=c.ROLE_MASTER)
            LOG.info("amphora %s of load balancer %s is the MASTER now", amp.id, ctx.snapshot.lb.id)
            amp = dataclasses.replace(amp, role=c.ROLE_MASTER)
        promoted.append(amp)
    return promoted


def tear_down(ctx: StepContext) -> None:
    for amp in ctx.snapshot.amphorae:
        ctx.check()
        amphorae.destroy(ctx.db, ctx.drivers, amp)
    ctx.drivers.network.deallocate_vip(ctx.snapshot.lb)
