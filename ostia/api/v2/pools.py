"""Pools: the members behind a listener, with algorithm, session persistence, backend TLS."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy.orm import Session

from ostia.api import error_reason, quota, status, types
from ostia.api.collection import Collection, list_page, standard_columns
from ostia.api.resource import (
    check_visible,
    ids,
    project_scope,
    read_visible,
    with_fields,
)
from ostia.api.routes import add_routes, crud
from ostia.api.services import Call
from ostia.api.v2 import listeners as listeners_api
from ostia.api.v2.standard_fields import standard_fields
from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.common import limits
from ostia.db import lifecycle, models

DISPLAY = "Pool"
router = APIRouter()

PoolProtocol = Literal["HTTP", "HTTPS", "TCP", "PROXY", "PROXYV2", "UDP", "SCTP"]
LbAlgorithm = Literal["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT"]
PersistenceType = Literal["SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"]
# Characters a cookie name may not hold (RFC 6265 token: no CTLs, spaces or separators).
BAD_COOKIE_NAME = re.compile(r"[\x00-\x20\x22\x28-\x29\x2c\x2f\x3a-\x40\x5b-\x5d\x7b\x7d\x7f]")
DATAGRAM_PROTOCOLS = (c.UDP, c.SCTP)


class SessionPersistenceCreate(types.Schema):
    type: PersistenceType
    cookie_name: types.Text255 | None = None
    # Bounded by the integer column on every database we support.
    persistence_timeout: (
        Annotated[types.Int, Field(ge=limits.PERSISTENCE_TIMEOUT.low, le=limits.PERSISTENCE_TIMEOUT.high)]
        | None
    ) = None
    persistence_granularity: types.IPAddress | None = None


class SessionPersistenceUpdate(SessionPersistenceCreate):
    # Left out, the pool's current type is kept.
    type: PersistenceType | None = None  # type: ignore[assignment]


class _PoolFields(types.Schema):
    name: types.Name = None
    description: types.Name = None
    admin_state_up: bool = True
    session_persistence: SessionPersistenceCreate | None = None
    tls_enabled: bool = False
    tls_container_ref: types.Text255 | None = None
    ca_tls_container_ref: types.Text255 | None = None
    crl_container_ref: types.Text255 | None = None
    tls_ciphers: listeners_api.Ciphers | None = None
    tls_versions: list[listeners_api.TlsVersion] | None = None
    alpn_protocols: list[listeners_api.Alpn] | None = None
    tags: types.Tags | None = None


class PoolSingleCreate(_PoolFields):
    """A pool inside a load balancer create; its children are parsed by their modules."""

    protocol: PoolProtocol
    lb_algorithm: LbAlgorithm
    healthmonitor: dict[str, Any] | None = None
    members: list[Any] | None = None


class PoolCreate(_PoolFields):
    protocol: PoolProtocol
    lb_algorithm: LbAlgorithm
    loadbalancer_id: types.UUID | None = None
    listener_id: types.UUID | None = None
    # Accepted for compatibility; a pool always belongs to its load balancer's project.
    project_id: types.ProjectId | None = None
    tenant_id: types.ProjectId | None = None


class PoolUpdate(types.Schema):
    name: types.Name = None
    description: types.Name = None
    admin_state_up: bool | None = None
    lb_algorithm: LbAlgorithm | None = None
    session_persistence: SessionPersistenceUpdate | None = None
    tls_enabled: bool | None = None
    tls_container_ref: types.Text255 | None = None
    ca_tls_container_ref: types.Text255 | None = None
    crl_container_ref: types.Text255 | None = None
    tls_ciphers: listeners_api.Ciphers | None = None
    tls_versions: list[listeners_api.TlsVersion] | None = None
    alpn_protocols: list[listeners_api.Alpn] | None = None
    tags: types.Tags | None = None


# API attribute -> model attribute, where they differ.
DB_NAMES = {
    "admin_state_up": "enabled",
    "tls_container_ref": "tls_certificate_id",
    "ca_tls_container_ref": "ca_tls_certificate_id",
    "crl_container_ref": "crl_container_id",
}
TLS_DEFAULTS = {
    "tls_ciphers": "default_pool_ciphers",
    "tls_versions": "default_pool_tls_versions",
    "alpn_protocols": "default_pool_alpn_protocols",
}


def live(objects: Any) -> list[Any]:
    return [o for o in objects if o.provisioning_status != c.DELETED]


def listeners_of(pool: models.Pool) -> list[models.Listener]:
    """Listeners that send traffic to `pool`: as default pool or through an L7 redirect."""
    found: dict[str, models.Listener] = {li.id: li for li in pool.listeners}
    for policy in live(pool.l7policies):
        found.setdefault(policy.listener.id, policy.listener)
    return live(found.values())


def live_monitor(pool: models.Pool) -> models.HealthMonitor | None:
    monitor = pool.health_monitor
    return monitor if monitor is not None and monitor.provisioning_status != c.DELETED else None


def _persistence(pool: models.Pool) -> dict[str, Any] | None:
    sp = pool.session_persistence
    if sp is None:
        return None
    return {
        "type": sp.type,
        "cookie_name": sp.cookie_name,
        "persistence_timeout": sp.persistence_timeout,
        "persistence_granularity": sp.persistence_granularity,
    }


def serialize(pool: models.Pool) -> dict[str, Any]:
    monitor = live_monitor(pool)
    reason = error_reason.of_child(pool, lambda: pool.load_balancer)
    return {
        **standard_fields(pool, reason),
        "name": pool.name,
        "description": pool.description,
        "protocol": pool.protocol,
        "lb_algorithm": pool.lb_algorithm,
        "session_persistence": _persistence(pool),
        "loadbalancers": [{"id": pool.load_balancer_id}] if pool.load_balancer_id else [],
        "listeners": ids(listeners_of(pool)),
        "healthmonitor_id": monitor.id if monitor is not None else None,
        "members": ids(live(pool.members)),
        "tls_container_ref": pool.tls_certificate_id,
        "ca_tls_container_ref": pool.ca_tls_certificate_id,
        "crl_container_ref": pool.crl_container_id,
        "tls_enabled": pool.tls_enabled,
        "tls_ciphers": pool.tls_ciphers,
        "tls_versions": pool.tls_versions,
        "alpn_protocols": pool.alpn_protocols,
    }


P = models.Pool
COLLECTION = Collection(
    model=P,
    singular="pool",
    plural="pools",
    display_name=DISPLAY,
    serialize=serialize,
    columns={
        **standard_columns(P),
        "protocol": P.protocol,
        "lb_algorithm": P.lb_algorithm,
        "loadbalancer_id": P.load_balancer_id,
        "tls_enabled": P.tls_enabled,
        "tls_container_ref": P.tls_certificate_id,
        "ca_tls_container_ref": P.ca_tls_certificate_id,
        "crl_container_ref": P.crl_container_id,
        "tls_ciphers": P.tls_ciphers,
    },
    # The answer names members, monitor and listeners by id and skips DELETED ones.
    related_columns={
        path: ("id", "provisioning_status")
        for path in ("members", "health_monitor", "listeners", "l7policies", "l7policies.listener")
    },
)


def get_pool(session: Session, call: Call, pool_id: str) -> models.Pool:
    pool = status.get_live(session, P, pool_id, DISPLAY)
    check_visible(call, pool, DISPLAY)
    return pool


def load_balancer_of(pool: models.Pool) -> models.LoadBalancer:
    # Every pool is created on a load balancer; the column is nullable only in the schema.
    if pool.load_balancer is None:
        raise exc.NotFound(DISPLAY, pool.id)
    return pool.load_balancer


def lock_for_pool_child(
    session: Session, pool: models.Pool, lb: models.LoadBalancer, *, repair: bool = False
) -> None:
    """A member or health monitor change: the pool must be ACTIVE (or ERROR for an update
    or delete: `repair`); the LB, the pool and its listeners go PENDING_UPDATE."""
    status.require_active(pool, DISPLAY, repair=repair)
    status.lock_for_child_change(session, lb.id, repair=repair)
    lifecycle.mark_pending_update(pool, *listeners_of(pool))


# ---- validation of the final attribute set (create and update alike) -----------------


def _check_persistence(protocol: str, sp: dict[str, Any] | None) -> None:
    if sp is None:
        return
    kind, cookie = sp.get("type"), sp.get("cookie_name")
    if protocol in DATAGRAM_PROTOCOLS:
        if kind == c.SOURCE_IP and cookie:
            raise exc.ValidationFailure(
                "session_persistence SOURCE_IP type for UDP and SCTP protocols only accepts: "
                "type, persistence_timeout, persistence_granularity."
            )
        if cookie:
            raise exc.ValidationFailure("Cookie names are not supported for UDP/SCTP pools.")
        if kind in (c.HTTP_COOKIE, c.APP_COOKIE):
            raise exc.ValidationFailure(
                f"Session persistence of type {kind} is not supported for UDP/SCTP protocol pools."
            )
    elif sp.get("persistence_timeout") is not None or sp.get("persistence_granularity") is not None:
        raise exc.ValidationFailure(
            "persistence_timeout and persistence_granularity is only for UDP and SCTP protocol pools."
        )
    if cookie:
        if kind != c.APP_COOKIE:
            raise exc.ValidationFailure(
                'Field "cookie_name" can only be specified with session persistence of type "APP_COOKIE".'
            )
        if BAD_COOKIE_NAME.search(cookie):
            raise exc.ValidationFailure('Supplied "cookie_name" is invalid.')
    elif kind == c.APP_COOKIE:
        raise exc.ValidationFailure(
            'Field "cookie_name" must be specified when using the "APP_COOKIE" session persistence type.'
        )


def validate(call: Call, protocol: str, values: dict[str, Any], project_id: str) -> None:
    """Every rule that depends on more than one field, on the pool's final values."""
    _check_persistence(protocol, values.get("session_persistence"))
    if values.get("crl_container_ref") and not values.get("ca_tls_container_ref"):
        raise exc.ValidationFailure("A CA certificate reference is required to specify a revocation list.")
    listeners_api.check_certificates(
        call,
        project_id,
        [values.get("tls_container_ref")],
        ca_ref=values.get("ca_tls_container_ref"),
        crl_ref=values.get("crl_container_ref"),
    )
    listeners_api.check_tls_options(call, protocol, values)


def check_listener_accepts(listener: models.Listener, protocol: str) -> None:
    """`listener` may forward to a pool of `protocol` (default pool or L7 redirect)."""
    if listener.protocol == c.PROMETHEUS:
        raise exc.ValidationFailure("Protocol PROMETHEUS listeners cannot have child objects.")
    listeners_api.check_pool_protocol(listener.protocol, protocol)


def tls_defaults(call: Call, values: dict[str, Any]) -> dict[str, Any]:
    """Backend TLS settings left unset take the deployment's defaults once TLS is on."""
    if not values.get("tls_enabled"):
        return {}
    settings = call.conf.api_settings
    defaults: dict[str, Any] = {}
    for key, option in TLS_DEFAULTS.items():
        if values.get(key) is None:
            default = getattr(settings, option)
            defaults[key] = list(default) if isinstance(default, list) else default
    return defaults


def apply(pool: models.Pool, values: dict[str, Any]) -> None:
    """Set API attributes (name, TLS, persistence, tags...) on the model."""
    for key, value in values.items():
        if key == "tags":
            pool.tags = value or []
        elif key == "session_persistence":
            _apply_persistence(pool, value)
        else:
            setattr(pool, DB_NAMES.get(key, key), value)


def _apply_persistence(pool: models.Pool, sp: dict[str, Any] | None) -> None:
    if sp is None:
        pool.session_persistence = None
        return
    # Update in place: the row's key is the pool id, so replacing it would clash.
    row = pool.session_persistence or models.SessionPersistence()
    for key in ("type", "cookie_name", "persistence_timeout", "persistence_granularity"):
        setattr(row, key, sp.get(key))
    pool.session_persistence = row


# ---- handlers ------------------------------------------------------------------------


def build(
    call: Call,
    session: Session,
    lb: models.LoadBalancer,
    body: PoolCreate | PoolSingleCreate,
    project_id: str,
) -> models.Pool:
    """Validate and add a new pool to `lb` (also used by single-call create)."""
    provider = call.services.providers.get(lb.provider)
    provider.check_protocol(body.protocol)
    provider.check_lb_algorithm(body.lb_algorithm)
    values: dict[str, Any] = {key: getattr(body, key) for key in _PoolFields.model_fields}
    if body.session_persistence is not None:
        values["session_persistence"] = body.session_persistence.model_dump()
    values.update(tls_defaults(call, values))
    validate(call, body.protocol, values, project_id)
    pool = P(
        project_id=project_id,
        load_balancer_id=lb.id,
        protocol=body.protocol,
        lb_algorithm=body.lb_algorithm,
        provisioning_status=c.PENDING_CREATE,
        operating_status=c.OFFLINE,
    )
    apply(pool, values)
    session.add(pool)
    return pool


def _target_listener(session: Session, call: Call, body: PoolCreate) -> models.Listener | None:
    if body.listener_id is None:
        return None
    listener = listeners_api.get_listener(session, call, body.listener_id)
    if body.loadbalancer_id is not None and listener.load_balancer_id != body.loadbalancer_id:
        raise exc.ValidationFailure(f"Listener {listener.id} is not on load balancer {body.loadbalancer_id}.")
    check_listener_accepts(listener, body.protocol)
    if listener.default_pool is not None and listener.default_pool.provisioning_status != c.DELETED:
        raise exc.Conflict("This listener already has a default pool")
    return listener


def create(call: Call, raw: Any) -> dict[str, Any]:
    body = types.parse(PoolCreate, raw)
    if body.loadbalancer_id is None and body.listener_id is None:
        raise exc.ValidationFailure("Must provide at least one of: loadbalancer_id, listener_id")
    with call.db.transaction() as session:
        listener = _target_listener(session, call, body)
        lb_id = body.loadbalancer_id or (listener.load_balancer_id if listener else "")
        lb = status.get_live(session, models.LoadBalancer, lb_id, "Load Balancer")
        check_visible(call, lb, "Load Balancer")
        project_id = lb.project_id or ""
        quota.check(session, call.conf, project_id, "pool")
        status.lock_for_child_change(session, lb.id)
        pool = build(call, session, lb, body, project_id)
        if listener is not None:
            listener.default_pool = pool
            lifecycle.mark_pending_update(listener)
        session.flush()
        result = serialize(pool)
        provider = lb.provider
        call.services.providers.stored(session, lb.id, provider)
    call.services.providers.notify(lb.id, provider)
    return {"pool": result}


def list_all(call: Call) -> dict[str, Any]:
    with call.db.transaction() as session:
        return list_page(
            session,
            COLLECTION,
            call.request.query_params,
            call.url,
            call.conf,
            project_scope(call, P.project_id),
        )


def show(call: Call, pool_id: str) -> dict[str, Any]:
    with call.db.reading() as connection:
        return {"pool": with_fields(call, serialize(read_visible(call, connection, COLLECTION, pool_id)))}


def _updated_persistence(pool: models.Pool, sent: SessionPersistenceUpdate) -> dict[str, Any]:
    """The new persistence: what was sent, keeping the current type when none was."""
    values = sent.model_dump()
    if values["type"] is None:
        current = pool.session_persistence
        if current is None:
            raise exc.InvalidInput("session_persistence.type", None, "Mandatory field missing.")
        values["type"] = current.type
    return values


def _check_ca_removal(pool: models.Pool, changes: dict[str, Any], values: dict[str, Any]) -> None:
    if (
        "ca_tls_container_ref" in changes
        and changes["ca_tls_container_ref"] is None
        and pool.ca_tls_certificate_id
        and values.get("crl_container_ref")
    ):
        raise exc.ValidationFailure(
            "A CA reference cannot be removed when a certificate revocation list is present."
        )


def _changes(pool: models.Pool, body: PoolUpdate) -> dict[str, Any]:
    """PUT values: null keeps admin_state_up and tls_enabled, removes persistence, and
    resets the TLS settings (to their defaults when TLS is on)."""
    changes: dict[str, Any] = {}
    for key, value in body.sent().items():
        if key == "lb_algorithm" and value is None:
            raise exc.InvalidOption("None", "lb_algorithm")
        if key == "session_persistence" and body.session_persistence is not None:
            changes[key] = _updated_persistence(pool, body.session_persistence)
        elif key in ("admin_state_up", "tls_enabled") and value is None:
            continue
        else:
            changes[key] = value
    return changes


def _current_values(pool: models.Pool) -> dict[str, Any]:
    current = serialize(pool)
    return {key: current[key] for key in PoolUpdate.model_fields if key in current}


def _checked_changes(call: Call, pool: models.Pool, body: PoolUpdate) -> dict[str, Any]:
    """What a PUT changes, validated against the pool's values after the change."""
    changes = _changes(pool, body)
    values = {**_current_values(pool), **changes}
    # A TLS setting reset with null, or unset when TLS is turned on, takes the default.
    changes.update(tls_defaults(call, values))
    values.update(changes)
    _check_ca_removal(pool, changes, values)
    validate(call, pool.protocol, values, pool.project_id or "")
    return changes


def update(call: Call, pool_id: str, raw: Any) -> dict[str, Any]:
    body = types.parse(PoolUpdate, raw)
    with call.db.transaction() as session:
        pool = get_pool(session, call, pool_id)
        lb = load_balancer_of(pool)
        if body.lb_algorithm is not None:
            call.services.providers.get(lb.provider).check_lb_algorithm(body.lb_algorithm)
        changes = _checked_changes(call, pool, body)
        status.lock_for_child_change(session, lb.id, repair=True)
        apply(pool, changes)
        pool.provisioning_status = c.PENDING_UPDATE
        lifecycle.mark_pending_update(*listeners_of(pool))
        session.flush()
        result = serialize(pool)
        lb_id, provider = lb.id, lb.provider
        call.services.providers.stored(session, lb_id, provider)
    call.services.providers.notify(lb_id, provider)
    return {"pool": result}


def delete(call: Call, pool_id: str) -> None:
    with call.db.transaction() as session:
        pool = get_pool(session, call, pool_id)
        policies = live(pool.l7policies)
        if policies:
            raise exc.Conflict(f"Pool {pool.id} is in use by L7 policy {policies[0].id}")
        lb = load_balancer_of(pool)
        status.lock_for_child_change(session, lb.id, repair=True)
        # The members and the health monitor go with the pool when the provider settles it.
        pool.provisioning_status = c.PENDING_DELETE
        lifecycle.mark_pending_update(*listeners_of(pool))
        lb_id, provider = lb.id, lb.provider
        call.services.providers.stored(session, lb_id, provider)
    call.services.providers.notify(lb_id, provider)


add_routes(
    router,
    crud(
        "/pools",
        "/pools/{pool_id}",
        "pool",
        create=create,
        list_all=list_all,
        show=show,
        update=update,
        delete=delete,
    ),
)
