"""Health monitors: how a pool's members are checked, one monitor per pool."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import AfterValidator, Field
from sqlalchemy.orm import Session

from ostia.api import error_reason, quota, status, types
from ostia.api.collection import Collection, list_page, standard_columns
from ostia.api.resource import (
    check_visible,
    project_scope,
    read_visible,
    with_fields,
)
from ostia.api.routes import add_routes, crud
from ostia.api.services import Call
from ostia.api.v2 import pools as pools_api
from ostia.api.v2.standard_fields import standard_fields
from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.common import limits
from ostia.db import models

DISPLAY = "Health Monitor"
router = APIRouter()

MonitorType = Literal["HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO", "UDP-CONNECT", "SCTP"]
HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"]
HTTP_TYPES = (c.HTTP, c.HTTPS)
HTTP_ONLY_FIELDS = ("http_method", "url_path", "expected_codes")
HTTP_DEFAULTS = {"http_method": "GET", "url_path": "/", "expected_codes": "200"}
DEFAULT_MAX_RETRIES_DOWN = 3
# Pool protocol family -> monitor types it accepts (the rest: 400).
DATAGRAM_MONITORS = ("UDP-CONNECT", "SCTP", "TCP", "HTTP")
DATAGRAM_ONLY_MONITORS = ("UDP-CONNECT", "SCTP")


def _url_path(value: str) -> str:
    if not limits.is_url_path(value):
        raise ValueError(f"Not a valid URLPath: {value}")
    return value


def _expected_codes(value: str) -> str:
    try:
        limits.expected_codes(value)
    except ValueError as err:
        raise ValueError(f"Not valid expected codes: {err}") from None
    return value


def _http_version(value: float) -> float:
    if value not in limits.HM_HTTP_VERSIONS:
        raise ValueError(f"Value should be one of: {', '.join(str(v) for v in limits.HM_HTTP_VERSIONS)}")
    return value


def _domain_name(value: str) -> str:
    if not limits.is_domain_name(value):
        raise ValueError("Not a valid domain name")
    return value


Delay = Annotated[types.Int, Field(ge=limits.HM_DELAY.low, le=limits.HM_DELAY.high)]
Timeout = Annotated[types.Int, Field(ge=limits.HM_TIMEOUT.low, le=limits.HM_TIMEOUT.high)]
Retries = Annotated[types.Int, Field(ge=limits.HM_MAX_RETRIES.low, le=limits.HM_MAX_RETRIES.high)]
RetriesDown = Annotated[
    types.Int, Field(ge=limits.HM_MAX_RETRIES_DOWN.low, le=limits.HM_MAX_RETRIES_DOWN.high)
]
UrlPath = Annotated[str, Field(max_length=limits.URL_PATH_MAX_LENGTH), AfterValidator(_url_path)]
ExpectedCodes = Annotated[
    str, Field(max_length=limits.EXPECTED_CODES_MAX_LENGTH), AfterValidator(_expected_codes)
]
HttpVersion = Annotated[types.Float, AfterValidator(_http_version)]
DomainName = Annotated[
    str, Field(min_length=1, max_length=limits.DOMAIN_NAME_MAX_LENGTH), AfterValidator(_domain_name)
]


class HealthMonitorSingleCreate(types.Schema):
    """A monitor nested in a pool of a single-call load balancer create."""

    name: types.Name = None
    type: MonitorType
    delay: Delay
    timeout: Timeout
    max_retries: Retries
    max_retries_down: RetriesDown = DEFAULT_MAX_RETRIES_DOWN
    http_method: HttpMethod | None = None
    url_path: UrlPath | None = None
    expected_codes: ExpectedCodes | None = None
    admin_state_up: bool = True
    http_version: HttpVersion | None = None
    domain_name: DomainName | None = None
    tags: types.Tags | None = None


class HealthMonitorCreate(HealthMonitorSingleCreate):
    pool_id: types.UUID
    # Accepted for compatibility; a monitor always belongs to its pool's project.
    project_id: types.ProjectId | None = None
    tenant_id: types.ProjectId | None = None


class HealthMonitorUpdate(types.Schema):
    name: types.Name = None
    delay: Delay | None = None
    timeout: Timeout | None = None
    max_retries: Retries | None = None
    max_retries_down: RetriesDown | None = None
    http_method: HttpMethod | None = None
    url_path: UrlPath | None = None
    expected_codes: ExpectedCodes | None = None
    admin_state_up: bool | None = None
    http_version: HttpVersion | None = None
    domain_name: DomainName | None = None
    tags: types.Tags | None = None


DB_NAMES = {
    "admin_state_up": "enabled",
    "max_retries": "rise_threshold",
    "max_retries_down": "fall_threshold",
}
# Attributes a monitor keeps from its create body (type and pool are fixed).
STORED = (
    "name",
    "delay",
    "timeout",
    "max_retries",
    "max_retries_down",
    "http_method",
    "url_path",
    "expected_codes",
    "admin_state_up",
    "http_version",
    "domain_name",
)


def serialize(monitor: models.HealthMonitor) -> dict[str, Any]:
    reason = error_reason.of_child(monitor, lambda: monitor.pool.load_balancer if monitor.pool else None)
    return {
        **standard_fields(monitor, reason),
        "name": monitor.name,
        "type": monitor.type,
        "delay": monitor.delay,
        "timeout": monitor.timeout,
        "max_retries": monitor.rise_threshold,
        "max_retries_down": monitor.fall_threshold,
        "http_method": monitor.http_method,
        "url_path": monitor.url_path,
        "expected_codes": monitor.expected_codes,
        "pools": [{"id": monitor.pool_id}],
        "http_version": monitor.http_version,
        "domain_name": monitor.domain_name,
    }


H = models.HealthMonitor
COLLECTION = Collection(
    model=H,
    singular="healthmonitor",
    plural="healthmonitors",
    display_name=DISPLAY,
    serialize=serialize,
    columns={
        **standard_columns(H),
        "type": H.type,
        "delay": H.delay,
        "timeout": H.timeout,
        "max_retries": H.rise_threshold,
        "max_retries_down": H.fall_threshold,
        "http_method": H.http_method,
        "url_path": H.url_path,
        "expected_codes": H.expected_codes,
        "pool_id": H.pool_id,
        "http_version": H.http_version,
        "domain_name": H.domain_name,
    },
)


def get_monitor(session: Session, call: Call, monitor_id: str) -> models.HealthMonitor:
    monitor = status.get_live(session, H, monitor_id, DISPLAY)
    check_visible(call, monitor, DISPLAY)
    return monitor


# ---- validation ----------------------------------------------------------------------


def _check_type_allowed(call: Call, kind: str) -> None:
    if kind == "PING" and not call.conf.api_settings.allow_ping_health_monitors:
        raise exc.DisabledOption("type", kind)


def _check_pool_protocol(call: Call, pool_protocol: str, kind: str, delay: int | None) -> None:
    """Monitor type against the pool's protocol (§4.3), and UDP-CONNECT's minimum delay."""
    if pool_protocol in pools_api.DATAGRAM_PROTOCOLS:
        if kind not in DATAGRAM_MONITORS:
            raise exc.ValidationFailure(
                f"The associated pool protocol is {pool_protocol}, so only a "
                f"{'/'.join(DATAGRAM_MONITORS)} health monitor is supported."
            )
    elif kind in DATAGRAM_ONLY_MONITORS:
        raise exc.ValidationFailure(f"The {kind} type is only supported for pools of type UDP/SCTP.")
    minimum = call.conf.api_settings.udp_connect_min_interval_health_monitor
    if kind == "UDP-CONNECT" and delay is not None and 0 <= minimum and delay < minimum:
        raise exc.ValidationFailure(
            f"The request delay value {delay} should be larger than {minimum} for "
            f"UDP-CONNECT health monitor type."
        )


def _check_http_fields(kind: str, sent: dict[str, Any]) -> None:
    """HTTP-only fields are refused on other types, even as null."""
    if kind in HTTP_TYPES:
        return
    for key in HTTP_ONLY_FIELDS:
        if key in sent:
            raise exc.InvalidOption(key, f"health monitors of type {kind}")


def _check_domain_name(values: dict[str, Any]) -> None:
    if not values.get("domain_name"):
        return
    version = values.get("http_version")
    if version is None:
        raise exc.ValidationFailure("http_version must be specified when domain_name is provided.")
    if version < 1.1:
        raise exc.InvalidOption(
            f"http_version {version}", "health monitors HTTP 1.1 domain name health check"
        )


def apply(monitor: models.HealthMonitor, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if key == "tags":
            monitor.tags = value or []
        else:
            setattr(monitor, DB_NAMES.get(key, key), value)


# ---- handlers ------------------------------------------------------------------------


def build(
    call: Call, session: Session, pool: models.Pool, body: HealthMonitorSingleCreate
) -> models.HealthMonitor:
    """Validate and add a monitor to `pool` (also used by single-call create).

    Quota and locks are the caller's.
    """
    _check_type_allowed(call, body.type)
    _check_pool_protocol(call, pool.protocol, body.type, body.delay)
    sent = {k: v for k, v in body.sent().items() if v is not None}
    _check_http_fields(body.type, sent)
    values = {key: getattr(body, key) for key in STORED}
    if body.type in HTTP_TYPES:
        values.update({k: v for k, v in HTTP_DEFAULTS.items() if values.get(k) is None})
    _check_domain_name(values)
    if pools_api.live_monitor(pool) is not None:
        raise exc.Conflict("This pool already has a health monitor")
    monitor = H(
        project_id=pool.project_id,
        pool_id=pool.id,
        type=body.type,
        provisioning_status=c.PENDING_CREATE,
        operating_status=c.OFFLINE,
    )
    apply(monitor, values)
    monitor.tags = body.tags or []
    pool.health_monitor = monitor
    session.add(monitor)
    return monitor


def create(call: Call, raw: Any) -> dict[str, Any]:
    body = types.parse(HealthMonitorCreate, raw)
    with call.db.transaction() as session:
        pool = pools_api.get_pool(session, call, body.pool_id)
        lb = pools_api.load_balancer_of(pool)
        quota.check(session, call.conf, pool.project_id or "", "health_monitor")
        pools_api.lock_for_pool_child(session, pool, lb)
        monitor = build(call, session, pool, body)
        session.flush()
        result = serialize(monitor)
        provider = lb.provider
        call.services.providers.stored(session, lb.id, provider)
    call.services.providers.notify(lb.id, provider)
    return {"healthmonitor": result}


def list_all(call: Call) -> dict[str, Any]:
    with call.db.transaction() as session:
        return list_page(
            session,
            COLLECTION,
            call.request.query_params,
            call.url,
            call.conf,
            project_scope(call, H.project_id),
        )


def show(call: Call, monitor_id: str) -> dict[str, Any]:
    with call.db.reading() as connection:
        monitor = read_visible(call, connection, COLLECTION, monitor_id)
        return {"healthmonitor": with_fields(call, serialize(monitor))}


def _changes(monitor: models.HealthMonitor, sent: dict[str, Any]) -> dict[str, Any]:
    """PUT values: delay, timeout and max_retries may not be null; other nulls restore
    their defaults."""
    for key in ("delay", "timeout", "max_retries"):
        if key in sent and sent[key] is None:
            raise exc.InvalidOption("None", key)
    defaults: dict[str, Any] = {"max_retries_down": DEFAULT_MAX_RETRIES_DOWN}
    if monitor.type in HTTP_TYPES:
        defaults.update(HTTP_DEFAULTS)
    changes = {key: (defaults.get(key) if value is None else value) for key, value in sent.items()}
    if changes.get("admin_state_up", True) is None:
        changes.pop("admin_state_up")
    return changes


def update(call: Call, monitor_id: str, raw: Any) -> dict[str, Any]:
    body = types.parse(HealthMonitorUpdate, raw)
    sent = body.sent()
    with call.db.transaction() as session:
        monitor = get_monitor(session, call, monitor_id)
        pool = monitor.pool
        _check_http_fields(monitor.type, sent)
        changes = _changes(monitor, sent)
        _check_pool_protocol(call, pool.protocol, monitor.type, changes.get("delay"))
        current = {"domain_name": monitor.domain_name, "http_version": monitor.http_version}
        _check_domain_name({**current, **changes})
        lb = pools_api.load_balancer_of(pool)
        pools_api.lock_for_pool_child(session, pool, lb, repair=True)
        apply(monitor, changes)
        monitor.provisioning_status = c.PENDING_UPDATE
        session.flush()
        result = serialize(monitor)
        provider = lb.provider
        call.services.providers.stored(session, lb.id, provider)
    call.services.providers.notify(lb.id, provider)
    return {"healthmonitor": result}


def delete(call: Call, monitor_id: str) -> None:
    with call.db.transaction() as session:
        monitor = get_monitor(session, call, monitor_id)
        pool = monitor.pool
        lb = pools_api.load_balancer_of(pool)
        pools_api.lock_for_pool_child(session, pool, lb, repair=True)
        monitor.provisioning_status = c.PENDING_DELETE
        provider = lb.provider
        call.services.providers.stored(session, lb.id, provider)
    call.services.providers.notify(lb.id, provider)


add_routes(
    router,
    crud(
        "/healthmonitors",
        "/healthmonitors/{monitor_id}",
        "healthmonitor",
        create=create,
        list_all=list_all,
        show=show,
        update=update,
        delete=delete,
    ),
)
