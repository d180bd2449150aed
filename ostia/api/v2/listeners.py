"""Listeners: one protocol port of a load balancer, with its TLS and HTTP options."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from ostia.api import error_reason, quota, status, types
from ostia.api.collection import Collection, list_page, standard_columns
from ostia.api.resource import (
    check_visible,
    live_ids,
    project_for_create,
    project_scope,
    read_visible,
    with_fields,
)
from ostia.api.routes import Route, add_routes, crud
from ostia.api.services import Call
from ostia.api.v2.standard_fields import standard_fields
from ostia.api.v2.statistics import sum_statistics
from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.common import limits, tls_ciphers
from ostia.db import models
from ostia.drivers.certs import pem_checks

DISPLAY = "Listener"
router = APIRouter()
Protocol = types.Annotated[str, types.AfterValidator(lambda v: _enum(v, c.LISTENER_PROTOCOLS))]
ClientAuth = types.Annotated[str, types.AfterValidator(lambda v: _enum(v, c.CLIENT_AUTH_TYPES))]
TlsVersion = types.Annotated[str, types.AfterValidator(lambda v: _enum(v, c.TLS_VERSIONS))]
Alpn = types.Annotated[str, types.AfterValidator(lambda v: _enum(v, c.ALPN_PROTOCOLS))]
Ciphers = types.Annotated[str, types.Field(max_length=limits.TLS_CIPHERS_MAX_LENGTH)]
HeaderValue = types.Annotated[str, types.Field(max_length=255), types.AfterValidator(types._no_control_chars)]


def _enum(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"Value should be one of: {', '.join(allowed)}")
    return value


class _ListenerFields(types.Schema):
    name: types.Name = None
    description: types.Name = None
    admin_state_up: bool = True
    connection_limit: (
        types.Annotated[
            types.Int, types.Field(ge=limits.CONNECTION_LIMIT.low, le=limits.CONNECTION_LIMIT.high)
        ]
        | None
    ) = None
    default_pool_id: types.UUID | None = None
    default_tls_container_ref: types.Text255 | None = None
    sni_container_refs: list[types.Text255] | None = None
    client_ca_tls_container_ref: types.Text255 | None = None
    client_authentication: ClientAuth | None = None
    client_crl_container_ref: types.Text255 | None = None
    insert_headers: dict[str, HeaderValue] | None = None
    timeout_client_data: types.TimeoutMs | None = None
    timeout_member_connect: types.TimeoutMs | None = None
    timeout_member_data: types.TimeoutMs | None = None
    timeout_tcp_inspect: types.TimeoutMs | None = None
    allowed_cidrs: list[types.CIDR] | None = None
    tls_ciphers: Ciphers | None = None
    tls_versions: list[TlsVersion] | None = None
    alpn_protocols: list[Alpn] | None = None
    hsts_max_age: (
        types.Annotated[types.Int, types.Field(ge=limits.HSTS_MAX_AGE.low, le=limits.HSTS_MAX_AGE.high)]
        | None
    ) = None
    hsts_include_subdomains: bool | None = None
    hsts_preload: bool | None = None
    tags: types.Tags | None = None


class ListenerCreate(_ListenerFields):
    loadbalancer_id: types.UUID
    protocol: Protocol
    protocol_port: types.Port
    project_id: types.ProjectId | None = None
    tenant_id: types.ProjectId | None = None


class ListenerUpdate(_ListenerFields):
    admin_state_up: bool | None = None  # type: ignore[assignment]


# API attribute -> model attribute, where they differ.
DB_NAMES = {
    "admin_state_up": "enabled",
    "default_tls_container_ref": "tls_certificate_id",
    "client_ca_tls_container_ref": "client_ca_tls_certificate_id",
    "client_crl_container_ref": "client_crl_container_id",
    "loadbalancer_id": "load_balancer_id",
}


def serialize(listener: models.Listener) -> dict[str, Any]:
    reason = error_reason.of_child(listener, lambda: listener.load_balancer)
    return {
        **standard_fields(listener, reason),
        "name": listener.name,
        "description": listener.description,
        "protocol": listener.protocol,
        "protocol_port": listener.protocol_port,
        "connection_limit": listener.connection_limit,
        "default_tls_container_ref": listener.tls_certificate_id,
        "sni_container_refs": listener.sni_container_refs or [],
        "default_pool_id": listener.default_pool_id,
        "l7policies": live_ids(listener.l7policies),
        "insert_headers": listener.insert_headers or {},
        "loadbalancers": [{"id": listener.load_balancer_id}],
        "timeout_client_data": listener.timeout_client_data,
        "timeout_member_connect": listener.timeout_member_connect,
        "timeout_member_data": listener.timeout_member_data,
        "timeout_tcp_inspect": listener.timeout_tcp_inspect,
        "client_ca_tls_container_ref": listener.client_ca_tls_certificate_id,
        "client_authentication": listener.client_authentication,
        "client_crl_container_ref": listener.client_crl_container_id,
        "allowed_cidrs": listener.allowed_cidrs,
        "tls_ciphers": listener.tls_ciphers,
        "tls_versions": listener.tls_versions,
        "alpn_protocols": listener.alpn_protocols,
        "hsts_max_age": listener.hsts_max_age,
        "hsts_include_subdomains": listener.hsts_include_subdomains,
        "hsts_preload": listener.hsts_preload,
    }


L = models.Listener
COLLECTION = Collection(
    model=L,
    singular="listener",
    plural="listeners",
    display_name=DISPLAY,
    serialize=serialize,
    columns={
        **standard_columns(L),
        "protocol": L.protocol,
        "protocol_port": L.protocol_port,
        "connection_limit": L.connection_limit,
        "loadbalancer_id": L.load_balancer_id,
        "default_pool_id": L.default_pool_id,
        "default_tls_container_ref": L.tls_certificate_id,
        "client_authentication": L.client_authentication,
        "timeout_client_data": L.timeout_client_data,
        "timeout_member_connect": L.timeout_member_connect,
        "timeout_member_data": L.timeout_member_data,
        "timeout_tcp_inspect": L.timeout_tcp_inspect,
        "tls_ciphers": L.tls_ciphers,
        "hsts_max_age": L.hsts_max_age,
    },
    related_columns={"l7policies": ("id", "provisioning_status")},
)


def get_listener(session: Session, call: Call, listener_id: str) -> models.Listener:
    listener = status.get_live(session, L, listener_id, DISPLAY)
    check_visible(call, listener, DISPLAY)
    return listener


# ---- validation of the final attribute set (create and update alike) -----------------


def _defaults(call: Call, protocol: str) -> dict[str, Any]:
    haproxy = call.conf.haproxy_amphora
    values: dict[str, Any] = {
        "connection_limit": c.DEFAULT_CONNECTION_LIMIT,
        "timeout_client_data": haproxy.timeout_client_data,
        "timeout_member_connect": haproxy.timeout_member_connect,
        "timeout_member_data": haproxy.timeout_member_data,
        "timeout_tcp_inspect": haproxy.timeout_tcp_inspect,
        "client_authentication": "NONE",
        "hsts_include_subdomains": False,
        "hsts_preload": False,
        "insert_headers": {},
        "sni_container_refs": [],
        "tls_ciphers": None,
        "tls_versions": None,
        "alpn_protocols": None,
    }
    if protocol == c.TERMINATED_HTTPS:
        settings = call.conf.api_settings
        values["tls_ciphers"] = settings.default_listener_ciphers
        values["tls_versions"] = list(settings.default_listener_tls_versions)
        values["alpn_protocols"] = list(settings.default_listener_alpn_protocols)
    return values


def _check_protocol_allowed(call: Call, protocol: str) -> None:
    settings = call.conf.api_settings
    if protocol == c.TERMINATED_HTTPS and not settings.allow_tls_terminated_listeners:
        raise exc.DisabledOption("protocol", protocol)
    if protocol == c.PROMETHEUS and not settings.allow_prometheus_listeners:
        raise exc.DisabledOption("protocol", protocol)


def _check_tls(call: Call, protocol: str, values: dict[str, Any], project_id: str) -> None:
    refs = [
        values.get("default_tls_container_ref"),
        *(values.get("sni_container_refs") or []),
        values.get("client_ca_tls_container_ref"),
        values.get("client_crl_container_ref"),
    ]
    has_refs = any(refs)
    if protocol in (c.UDP, c.SCTP):
        if has_refs or values.get("insert_headers"):
            raise exc.ValidationFailure(f"{protocol} protocol listener does not support TLS.")
    elif protocol != c.TERMINATED_HTTPS and has_refs:
        raise exc.ValidationFailure(
            f"Certificate container references are not allowed on {protocol} protocol listeners."
        )
    if protocol == c.TERMINATED_HTTPS and not (
        values.get("default_tls_container_ref") or values.get("sni_container_refs")
    ):
        raise exc.ValidationFailure(
            "An SNI or default certificate container reference must be provided for "
            "TERMINATED_HTTPS protocol listeners."
        )
    if values.get("client_authentication", "NONE") != "NONE" and not values.get(
        "client_ca_tls_container_ref"
    ):
        raise exc.ValidationFailure(
            "Client authentication setting "
            f"{values['client_authentication']} requires a client CA container reference."
        )
    if values.get("client_crl_container_ref") and not values.get("client_ca_tls_container_ref"):
        raise exc.ValidationFailure(
            "A client authentication CA reference is required to specify a client "
            "authentication revocation list."
        )
    if values.get("client_ca_tls_container_ref") and not (
        values.get("default_tls_container_ref") or values.get("sni_container_refs")
    ):
        raise exc.ValidationFailure(
            "An SNI or default certificate container reference must be provided with a "
            "client CA container reference."
        )
    check_certificates(
        call,
        project_id,
        refs[:-2],
        ca_ref=values.get("client_ca_tls_container_ref"),
        crl_ref=values.get("client_crl_container_ref"),
    )
    check_tls_options(call, protocol, values)


def check_certificates(
    call: Call, project_id: str, refs: list[str | None], ca_ref: str | None = None, crl_ref: str | None = None
) -> None:
    """Every certificate container (cert + key) and secret (CA bundle, CRL) must be
    retrievable with the configured cert manager (listeners and pools), and parse as
    haproxy will load it: containers with a matching key, the CA as certificates, the
    CRL as a CRL signed by that CA."""
    manager = call.services.cert_manager
    if manager is None:
        return
    containers = [_retrieve(manager.get_cert, project_id, ref) for ref in refs if ref]
    ca = _retrieve(manager.get_secret, project_id, ca_ref) if ca_ref else None
    crl = _retrieve(manager.get_secret, project_id, crl_ref) if crl_ref else None
    if not manager.returns_tenant_pem:
        return
    try:
        for container in containers:
            pem_checks.validate_container(container)
        if ca is not None:
            issuers = pem_checks.ca_bundle(ca, "the CA certificate")
            if crl is not None:
                pem_checks.crl(crl, "the revocation list", issuers)
    except exc.InvalidCertificate as err:
        raise exc.ValidationFailure(str(err)) from None


def _retrieve(lookup: Callable[[str, str], Any], project_id: str, ref: str) -> Any:
    try:
        return lookup(project_id, ref)
    except Exception as err:  # noqa: BLE001 - any lookup failure is the tenant's
        raise exc.BadRequest(f"Could not retrieve certificate: ['{ref}']") from err


def check_tls_options(call: Call, protocol: str, values: dict[str, Any]) -> None:
    """Ciphers, TLS versions, ALPN and HSTS of a listener or a pool (final values)."""
    settings = call.conf.api_settings
    ciphers = values.get("tls_ciphers")
    if ciphers:
        try:
            tls_ciphers.check_cipher_string(ciphers)
        except tls_ciphers.UnknownCipher as err:
            raise exc.ValidationFailure(str(err)) from None
        prohibited = {p for p in settings.tls_cipher_prohibit_list.split(":") if p}
        bad = [cipher for cipher in ciphers.split(":") if cipher in prohibited]
        if bad:
            raise exc.ValidationFailure(
                f"The following ciphers have been prohibited by an administrator: {', '.join(bad)}"
            )
    for key in ("tls_versions", "alpn_protocols"):
        if values.get(key) is not None and len(values[key]) == 0:
            raise exc.ValidationFailure(f"{key} must not be an empty list.")
    minimum = settings.minimum_tls_version
    if minimum and values.get("tls_versions"):
        order = list(c.TLS_VERSIONS)
        too_low = [v for v in values["tls_versions"] if order.index(v) < order.index(minimum)]
        if too_low:
            raise exc.ValidationFailure(
                f"TLS version {', '.join(too_low)} is below the minimum TLS version "
                f"{minimum} set by an administrator."
            )
    hsts = [
        values.get("hsts_max_age") is not None,
        bool(values.get("hsts_include_subdomains")),
        bool(values.get("hsts_preload")),
    ]
    if any(hsts) and protocol != c.TERMINATED_HTTPS:
        raise exc.ValidationFailure(
            "The HSTS feature can only be used for listeners using the TERMINATED_HTTPS protocol."
        )
    if (hsts[1] or hsts[2]) and not hsts[0]:
        raise exc.ValidationFailure(
            "HSTS configuration options hsts_include_subdomains and hsts_preload require hsts_max_age."
        )


def _check_insert_headers(protocol: str, headers: dict[str, str]) -> None:
    if not headers:
        return
    if protocol not in (c.HTTP, c.TERMINATED_HTTPS):
        raise exc.InvalidOption("insert_headers", f"{protocol} protocol listener")
    allowed = set(c.INSERT_HEADERS_HTTP)
    if protocol == c.TERMINATED_HTTPS:
        allowed |= set(c.INSERT_HEADERS_TLS)
    for key in headers:
        if key not in allowed:
            raise exc.InvalidOption(key, f"{protocol} protocol listener")


def _check_allowed_cidrs(lb: models.LoadBalancer, cidrs: list[str] | None) -> None:
    if not cidrs:
        return
    if lb.vip is not None and lb.vip.sg_ids:
        raise exc.ValidationFailure("Allowed CIDRs are not allowed when using custom VIP Security Groups.")
    vip_versions = {
        ipaddress.ip_address(a).version
        for a in [lb.vip.ip_address if lb.vip else None, *[v.ip_address for v in lb.additional_vips]]
        if a
    }
    for cidr in cidrs:
        if vip_versions and ipaddress.ip_network(cidr).version not in vip_versions:
            raise exc.ValidationFailure(
                f"CIDR {cidr} IP version incompatible with all VIPs {sorted(vip_versions)} IP version."
            )


def check_pool_protocol(listener_protocol: str, pool_protocol: str) -> None:
    if pool_protocol not in c.LISTENER_POOL_COMPATIBILITY.get(listener_protocol, ()):
        raise exc.ValidationFailure(
            f"The pool protocol '{pool_protocol}' is invalid while the listener protocol is "
            f"'{listener_protocol}'."
        )


def _check_default_pool(session: Session, lb_id: str, protocol: str, pool_id: str | None) -> None:
    if pool_id is None:
        return
    if protocol == c.PROMETHEUS:
        raise exc.ValidationFailure("Protocol PROMETHEUS listeners cannot have child objects.")
    pool = session.get(models.Pool, pool_id)
    if (
        pool is None
        or pool.load_balancer_id != lb_id
        or pool.provisioning_status in (c.DELETED, c.PENDING_DELETE)
    ):
        raise exc.NotFound("Pool", pool_id)
    check_pool_protocol(protocol, pool.protocol)


def _check_port_free(session: Session, lb_id: str, protocol: str, port: int) -> None:
    family = c.L4_FAMILY[protocol]
    same_family = [p for p, f in c.L4_FAMILY.items() if f == family]
    clash = session.scalar(
        select(L.id).where(
            L.load_balancer_id == lb_id,
            L.protocol_port == port,
            L.protocol.in_(same_family),
            L.provisioning_status != c.DELETED,
        )
    )
    if clash:
        raise exc.Conflict(
            f"Another Listener on this Load Balancer is already using protocol {protocol} "
            f"and protocol_port {port}"
        )


def validate(
    call: Call,
    session: Session,
    lb: models.LoadBalancer,
    protocol: str,
    values: dict[str, Any],
    project_id: str,
) -> None:
    """Every rule that depends on more than one field, on the listener's final values."""
    _check_tls(call, protocol, values, project_id)
    _check_insert_headers(protocol, values.get("insert_headers") or {})
    _check_allowed_cidrs(lb, values.get("allowed_cidrs"))
    _check_default_pool(session, lb.id, protocol, values.get("default_pool_id"))


def apply(listener: models.Listener, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if key == "tags":
            listener.tags = value or []
        elif key not in ("project_id", "tenant_id", "loadbalancer_id", "protocol", "protocol_port"):
            setattr(listener, DB_NAMES.get(key, key), value)


# ---- handlers ------------------------------------------------------------------------


def build(
    call: Call, session: Session, lb: models.LoadBalancer, body: ListenerCreate, project_id: str
) -> models.Listener:
    """Validate and add a new listener to `lb` (also used by single-call create)."""
    _check_protocol_allowed(call, body.protocol)
    call.services.providers.get(lb.provider).check_protocol(body.protocol)
    _check_port_free(session, lb.id, body.protocol, body.protocol_port)
    values = _defaults(call, body.protocol)
    values.update({k: v for k, v in body.sent().items() if v is not None})
    values.setdefault("admin_state_up", True)
    validate(call, session, lb, body.protocol, values, project_id)
    listener = L(
        project_id=project_id,
        load_balancer_id=lb.id,
        protocol=body.protocol,
        protocol_port=body.protocol_port,
        provisioning_status=c.PENDING_CREATE,
        operating_status=c.OFFLINE,
    )
    apply(listener, values)
    session.add(listener)
    return listener


def create(call: Call, raw: Any) -> dict[str, Any]:
    body = types.parse(ListenerCreate, raw)
    with call.db.transaction() as session:
        lb = status.get_live(session, models.LoadBalancer, body.loadbalancer_id, "Load Balancer")
        check_visible(call, lb, "Load Balancer")
        project_id = project_for_create(call, body.project_id or body.tenant_id or lb.project_id)
        quota.check(session, call.conf, project_id, "listener")
        status.lock_for_child_change(session, lb.id)
        listener = build(call, session, lb, body, project_id)
        session.flush()
        result = serialize(listener)
        provider = lb.provider
        call.services.providers.stored(session, body.loadbalancer_id, provider)
    call.services.providers.notify(body.loadbalancer_id, provider)
    return {"listener": result}


def list_all(call: Call) -> dict[str, Any]:
    with call.db.transaction() as session:
        return list_page(
            session,
            COLLECTION,
            call.request.query_params,
            call.url,
            call.conf,
            project_scope(call, L.project_id),
        )


def show(call: Call, listener_id: str) -> dict[str, Any]:
    with call.db.reading() as connection:
        return {
            "listener": with_fields(call, serialize(read_visible(call, connection, COLLECTION, listener_id)))
        }


def _current_values(listener: models.Listener) -> dict[str, Any]:
    current = serialize(listener)
    return {key: current[key] for key in ListenerUpdate.model_fields if key in current}


def update(call: Call, listener_id: str, raw: Any) -> dict[str, Any]:
    body = types.parse(ListenerUpdate, raw)
    sent = body.sent()
    with call.db.transaction() as session:
        listener = get_listener(session, call, listener_id)
        lb = listener.load_balancer
        status.lock_for_child_change(session, lb.id, repair=True)
        defaults = _defaults(call, listener.protocol)
        # null on PUT restores the default where upstream has one.
        changes = {k: (defaults.get(k) if v is None and k in defaults else v) for k, v in sent.items()}
        if changes.get("admin_state_up") is None:
            changes.pop("admin_state_up", None)
        values = {**_current_values(listener), **changes}
        validate(call, session, lb, listener.protocol, values, listener.project_id or "")
        apply(listener, changes)
        listener.provisioning_status = c.PENDING_UPDATE
        session.flush()
        result = serialize(listener)
        lb_id, provider = lb.id, lb.provider
        call.services.providers.stored(session, lb_id, provider)
    call.services.providers.notify(lb_id, provider)
    return {"listener": result}


def delete(call: Call, listener_id: str) -> None:
    with call.db.transaction() as session:
        listener = get_listener(session, call, listener_id)
        lb = listener.load_balancer
        status.lock_for_child_change(session, lb.id, repair=True)
        listener.provisioning_status = c.PENDING_DELETE
        lb_id, provider = lb.id, lb.provider
        call.services.providers.stored(session, lb_id, provider)
    call.services.providers.notify(lb_id, provider)


def stats(call: Call, listener_id: str) -> dict[str, Any]:
    with call.db.transaction() as session:
        listener = get_listener(session, call, listener_id)
        return {"stats": sum_statistics(session, [listener.id])}


add_routes(
    router,
    [
        *crud(
            "/listeners",
            "/listeners/{listener_id}",
            "listener",
            create=create,
            list_all=list_all,
            show=show,
            update=update,
            delete=delete,
        ),
        Route("GET", "/listeners/{listener_id}/stats", stats),
    ],
)
