"""Amphorae (admin, under /v2/octavia): list, show, statistics, failover, config refresh
and deletion of broken ones.

The API only records the request and wakes the owning load balancer's provider; the
worker does the real failover, agent configuration push or cleanup.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import QueryParams

from ostia.api import status
from ostia.api.collection import Collection, check_value_count, list_page
from ostia.api.resource import require_admin, timestamp, with_fields
from ostia.api.routes import Route, add_routes
from ostia.api.services import Call
from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.db import models
from ostia.db.failover_marks import mark_for_failover

DISPLAY = "Amphora"
router = APIRouter()
A = models.Amphora
STAT_FIELDS = ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors")


def serialize(amp: models.Amphora) -> dict[str, Any]:
    return {
        "id": amp.id,
        "loadbalancer_id": amp.load_balancer_id,
        "compute_id": amp.compute_id,
        "lb_network_ip": amp.lb_network_ip,
        "vrrp_ip": amp.vrrp_ip,
        "ha_ip": amp.ha_ip,
        "vrrp_port_id": amp.vrrp_port_id,
        "ha_port_id": amp.ha_port_id,
        "cert_expiration": timestamp(amp.cert_expiration),
        "cert_busy": bool(amp.cert_busy),
        "role": amp.role,
        "status": amp.status,
        "vrrp_interface": amp.vrrp_interface,
        "vrrp_id": amp.vrrp_id,
        "vrrp_priority": amp.vrrp_priority,
        "cached_zone": amp.cached_zone,
        "created_at": timestamp(amp.created_at),
        "updated_at": timestamp(amp.updated_at),
        "image_id": amp.image_id,
        "compute_flavor": amp.compute_flavor,
    }


COLLECTION = Collection(
    model=A,
    singular="amphora",
    plural="amphorae",
    display_name=DISPLAY,
    serialize=serialize,
    tagged=False,
    columns={
        "id": A.id,
        "loadbalancer_id": A.load_balancer_id,
        "compute_id": A.compute_id,
        "lb_network_ip": A.lb_network_ip,
        "vrrp_ip": A.vrrp_ip,
        "ha_ip": A.ha_ip,
        "vrrp_port_id": A.vrrp_port_id,
        "ha_port_id": A.ha_port_id,
        "cert_expiration": A.cert_expiration,
        "cert_busy": A.cert_busy,
        "role": A.role,
        "status": A.status,
        "vrrp_interface": A.vrrp_interface,
        "vrrp_id": A.vrrp_id,
        "vrrp_priority": A.vrrp_priority,
        "cached_zone": A.cached_zone,
        "created_at": A.created_at,
        "updated_at": A.updated_at,
        "image_id": A.image_id,
        "compute_flavor": A.compute_flavor,
    },
    base_filter=lambda: A.status != c.DELETED,
)


def get_amphora(session: Session, amphora_id: str) -> models.Amphora:
    amp = session.get(A, amphora_id)
    if amp is None or amp.status == c.DELETED:
        raise exc.NotFound(DISPLAY, amphora_id)
    return amp


# ---- handlers ------------------------------------------------------------------------


def list_all(call: Call) -> dict[str, Any]:
    require_admin(call)
    params = call.request.query_params
    check_value_count(params, COLLECTION)
    scope = []
    if "project_id" in params:
        # Amphorae belong to a project through their load balancer.
        LB = models.LoadBalancer
        scope.append(
            A.load_balancer_id.in_(select(LB.id).where(LB.project_id.in_(params.getlist("project_id"))))
        )
        params = QueryParams([(k, v) for k, v in params.multi_items() if k != "project_id"])
    with call.db.transaction() as session:
        return list_page(session, COLLECTION, params, call.url, call.conf, scope)


def show(call: Call, amphora_id: str) -> dict[str, Any]:
    require_admin(call)
    with call.db.transaction() as session:
        return {"amphora": with_fields(call, serialize(get_amphora(session, amphora_id)))}


def stats(call: Call, amphora_id: str) -> dict[str, Any]:
    """One entry per listener this amphora reported statistics for."""
    require_admin(call)
    stat = models.ListenerStatistics
    with call.db.transaction() as session:
        amp = get_amphora(session, amphora_id)
        rows = session.execute(
            select(stat, models.Listener.load_balancer_id)
            .outerjoin(models.Listener, models.Listener.id == stat.listener_id)
            .where(stat.amphora_id == amp.id)
            .order_by(stat.listener_id)
        ).all()
        if not rows:
            raise exc.NotFound("Amphora stats for", amphora_id)
        return {
            "amphora_stats": [
                {
                    "id": amp.id,
                    "listener_id": row.listener_id,
                    "loadbalancer_id": lb_id or amp.load_balancer_id,
                    **{field: int(getattr(row, field) or 0) for field in STAT_FIELDS},
                }
                for row, lb_id in rows
            ]
        }


def _owning_load_balancer(session: Session, amp: models.Amphora) -> models.LoadBalancer:
    lb = session.get(models.LoadBalancer, amp.load_balancer_id) if amp.load_balancer_id else None
    if lb is None or lb.provisioning_status == c.DELETED:
        raise exc.Conflict(f"Amphora {amp.id} does not serve a load balancer and cannot be failed over.")
    return lb


def failover(call: Call, amphora_id: str) -> None:
    """The owning load balancer must be ACTIVE; it goes PENDING_UPDATE for the worker."""
    require_admin(call)
    with call.db.transaction() as session:
        amp = get_amphora(session, amphora_id)
        lb = _owning_load_balancer(session, amp)
        status.lock_for_child_change(session, lb.id)
        mark_for_failover(session, lb.id, amp.id)  # the worker replaces what is marked
        lb_id, provider = lb.id, lb.provider
        call.services.providers.stored(session, lb_id, provider)
    call.services.providers.notify(lb_id, provider)


def refresh_config(call: Call, amphora_id: str) -> None:
    """Ask the worker to push the agent configuration again (no status change)."""
    require_admin(call)
    with call.db.transaction() as session:
        amp = get_amphora(session, amphora_id)
        lb = session.get(models.LoadBalancer, amp.load_balancer_id) if amp.load_balancer_id else None
        target = (lb.id, lb.provider) if lb is not None and lb.provisioning_status != c.DELETED else None
        if target is not None:
            call.services.providers.stored(session, *target)
    if target is not None:
        call.services.providers.notify(*target)


def delete(call: Call, amphora_id: str) -> None:
    """Only an amphora in ERROR may be deleted; it waits in PENDING_DELETE for cleanup."""
    require_admin(call)
    with call.db.transaction() as session:
        amp = get_amphora(session, amphora_id)
        if amp.status != c.ERROR:
            raise exc.ImmutableObject(DISPLAY, amphora_id)
        amp.status = c.PENDING_DELETE
        lb = session.get(models.LoadBalancer, amp.load_balancer_id) if amp.load_balancer_id else None
        target = (lb.id, lb.provider) if lb is not None and lb.provisioning_status != c.DELETED else None
        if target is not None:
            call.services.providers.stored(session, *target)
    if target is not None:
        call.services.providers.notify(*target)


ONE = "/amphorae/{amphora_id}"
add_routes(
    router,
    [
        Route("GET", "/amphorae", list_all),
        Route("GET", ONE, show),
        Route("GET", ONE + "/stats", stats),
        Route("PUT", ONE + "/failover", failover, status=202, empty=True),
        Route("PUT", ONE + "/config", refresh_config, status=202, empty=True),
        Route("DELETE", ONE, delete, status=204),
    ],
)
