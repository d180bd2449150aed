"""Members: the backend servers of a pool, one by one or as a whole batch."""

from __future__ import annotations

import ipaddress
import json
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ostia.api import error_reason, quota, types
from ostia.api.collection import Collection, list_page, standard_columns
from ostia.api.resource import (
    check_visible,
    read_live,
    read_visible,
    with_fields,
)
from ostia.api.routes import Route, add_routes, crud
from ostia.api.services import Call
from ostia.api.v2 import member_rows
from ostia.api.v2 import pools as pools_api
from ostia.api.v2.standard_fields import standard_fields
from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.common import limits
from ostia.db import models
from ostia.drivers.network import base as net

DISPLAY = "Member"
router = APIRouter()
Weight = Annotated[types.Int, Field(ge=limits.WEIGHT.low, le=limits.WEIGHT.high)]
DEFAULT_WEIGHT = 1


class MemberCreate(types.Schema):
    """A member in a create, a batch update or a single-call load balancer create."""

    name: types.Name = None
    admin_state_up: bool = True
    address: types.IPAddress
    protocol_port: types.Port
    weight: Weight = DEFAULT_WEIGHT
    backup: bool = False
    # By id or, with the local network driver, by name.
    subnet_id: types.Text255 | None = None
    monitor_address: types.IPAddress | None = None
    monitor_port: types.Port | None = None
    request_sriov: bool = False
    tags: types.Tags | None = None
    # Accepted for compatibility; a member always belongs to its pool's project.
    project_id: types.ProjectId | None = None
    tenant_id: types.ProjectId | None = None


class MemberUpdate(types.Schema):
    name: types.Name = None
    admin_state_up: bool | None = None
    weight: Weight | None = None
    backup: bool | None = None
    monitor_address: types.IPAddress | None = None
    monitor_port: types.Port | None = None
    tags: types.Tags | None = None


# What a PUT (single or batch) may change; null restores the default where one exists.
UPDATABLE_DEFAULTS: dict[str, Any] = {
    "name": None,
    "admin_state_up": True,
    "weight": DEFAULT_WEIGHT,
    "backup": False,
    "monitor_address": None,
    "monitor_port": None,
}
DB_NAMES = {"admin_state_up": "enabled", "address": "ip_address"}


def serialize(member: models.Member) -> dict[str, Any]:
    reason = error_reason.of_child(member, lambda: member.pool.load_balancer if member.pool else None)
    return {
        **standard_fields(member, reason),
        "name": member.name,
        "address": member.ip_address,
        "protocol_port": member.protocol_port,
        "weight": member.weight,
        "backup": member.backup,
        "subnet_id": member.subnet_id,
        "monitor_address": member.monitor_address,
        "monitor_port": member.monitor_port,
        "vnic_type": member.vnic_type,
    }


M = models.Member
COLLECTION = Collection(
    model=M,
    singular="member",
    plural="members",
    display_name=DISPLAY,
    serialize=serialize,
    columns={
        **standard_columns(M),
        "address": M.ip_address,
        "protocol_port": M.protocol_port,
        "weight": M.weight,
        "backup": M.backup,
        "subnet_id": M.subnet_id,
        "monitor_address": M.monitor_address,
        "monitor_port": M.monitor_port,
        "vnic_type": M.vnic_type,
    },
)


def _pool_and_lb(session: Session, call: Call, pool_id: str) -> tuple[models.Pool, models.LoadBalancer]:
    pool = pools_api.get_pool(session, call, pool_id)
    return pool, pools_api.load_balancer_of(pool)


# ---- validation ----------------------------------------------------------------------


def _check_address(call: Call, address: str) -> None:
    reserved = {ipaddress.ip_address(ip) for ip in call.conf.networking.reserved_ips}
    ip = ipaddress.ip_address(address)
    # An IPv4-mapped IPv6 address reaches the same host as the IPv4 address it maps.
    if ip in reserved or (ip.version == 6 and ip.ipv4_mapped in reserved):
        raise exc.InvalidOption(address, "member address")


def resolve_subnet(call: Call, subnet_id: str | None) -> str | None:
    """The id of the member's subnet (named by id or name); 404 when there is none."""
    if subnet_id is None:
        return None
    try:
        return call.services.network.get_subnet(subnet_id).id
    except net.SubnetNotFound:
        raise exc.NotFound("Subnet", subnet_id) from None


def _flavor_allows_sriov(session: Session, flavor_id: str | None) -> bool:
    if flavor_id is None:
        return False
    flavor = session.get(models.Flavor, flavor_id)
    try:
        data = json.loads(flavor.flavor_profile.flavor_data) if flavor else {}
    except ValueError:
        return False
    return isinstance(data, dict) and bool(data.get("allow_member_sriov"))


def _check_not_taken(session: Session, pool_id: str, address: str, port: int) -> None:
    clash = session.scalar(
        select(M.id).where(
            M.pool_id == pool_id,
            M.ip_address == address,
            M.protocol_port == port,
            M.provisioning_status != c.DELETED,
        )
    )
    if clash:
        raise exc.Conflict(
            f"Another member on this pool is already using ip {address} on protocol_port {port}"
        )


def _check_new(call: Call, session: Session, pool_id: str, flavor_id: str | None, body: MemberCreate) -> None:
    """What a new member must pass beyond its own fields: address, SR-IOV, uniqueness."""
    _check_address(call, body.address)
    if body.request_sriov and not _flavor_allows_sriov(session, flavor_id):
        raise exc.ValidationFailure("The load balancer flavor does not allow SR-IOV member ports.")
    _check_not_taken(session, pool_id, body.address, body.protocol_port)


def _new_values(
    body: MemberCreate, project_id: str | None, pool_id: str, subnet_id: str | None, has_monitor: bool
) -> dict[str, Any]:
    """The columns of a new member (without id, timestamps and tags)."""
    values: dict[str, Any] = {
        "project_id": project_id,
        "pool_id": pool_id,
        "ip_address": body.address,
        "protocol_port": body.protocol_port,
        "subnet_id": subnet_id,
        "vnic_type": "direct" if body.request_sriov else "normal",
        "provisioning_status": c.PENDING_CREATE,
        "operating_status": c.OFFLINE if has_monitor else c.NO_MONITOR,
    }
    for key in UPDATABLE_DEFAULTS:
        values[DB_NAMES.get(key, key)] = getattr(body, key)
    return values


def build(
    call: Call,
    session: Session,
    pool: models.Pool,
    lb: models.LoadBalancer,
    body: MemberCreate,
    subnet_id: str | None,
) -> models.Member:
    """Validate and add a new member to `pool` as an ORM object (batch update and
    single-call create; a create alone goes through member_rows).

    `subnet_id` is the resolved subnet (see `resolve_subnet`); quota and locks are the
    caller's.
    """
    _check_new(call, session, pool.id, lb.flavor_id, body)
    has_monitor = pools_api.live_monitor(pool) is not None
    values = _new_values(body, pool.project_id, pool.id, subnet_id, has_monitor)
    del values["pool_id"]  # set by the append below
    member = M(**values)
    member.tags = body.tags or []
    pool.members.append(member)
    session.add(member)
    return member


def apply(member: models.Member, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if key == "tags":
            member.tags = value or []
        else:
            setattr(member, DB_NAMES.get(key, key), value)


# ---- handlers ------------------------------------------------------------------------


def create(call: Call, pool_id: str, raw: Any) -> dict[str, Any]:
    """On rows (member_rows): the checks, locks and rows of `build`, with no ORM object."""
    body = types.parse(MemberCreate, raw)
    subnet_id = resolve_subnet(call, body.subnet_id)
    with call.db.transaction() as session:
        pool = member_rows.read_pool(session.connection(), pool_id)
        check_visible(call, pool, pools_api.DISPLAY)
        lb_id = member_rows.require_load_balancer(pool)
        quota.check(session, call.conf, pool.project_id or "", "member")
        member_rows.lock_for_member(session, pool)
        _check_new(call, session, pool.id, pool.flavor_id, body)
        values = _new_values(body, pool.project_id, pool.id, subnet_id, pool.has_monitor)
        result = serialize(member_rows.insert_member(session, values, body.tags))
        provider = pool.provider
        call.services.providers.stored(session, lb_id, provider)
    call.services.providers.notify(lb_id, provider)
    return {"member": result}


def list_all(call: Call, pool_id: str) -> dict[str, Any]:
    with call.db.transaction() as session:
        pool = pools_api.get_pool(session, call, pool_id)
        return list_page(
            session, COLLECTION, call.request.query_params, call.url, call.conf, (M.pool_id == pool.id,)
        )


def show(call: Call, pool_id: str, member_id: str) -> dict[str, Any]:
    with call.db.reading() as connection:
        pool = read_visible(call, connection, pools_api.COLLECTION, pool_id)
        member = read_live(connection, M, member_id, DISPLAY)
        if member.pool_id != pool.id:  # a member of another pool is not found
            raise exc.NotFound(DISPLAY, member_id)
        check_visible(call, member, DISPLAY)
        return {"member": with_fields(call, serialize(member))}


def _changes(sent: dict[str, Any]) -> dict[str, Any]:
    """PUT values: null restores the default of weight, backup and admin_state_up."""
    return {key: (UPDATABLE_DEFAULTS.get(key) if value is None else value) for key, value in sent.items()}


def update(call: Call, pool_id: str, member_id: str, raw: Any) -> dict[str, Any]:
    """On rows (member_rows), as create."""
    body = types.parse(MemberUpdate, raw)
    with call.db.transaction() as session:
        pool, lb_id, member = _pool_and_member_rows(call, session, pool_id, member_id)
        member_rows.lock_for_member(session, pool, repair=True)
        changes = _changes(body.sent())
        tags = (changes.pop("tags") or []) if "tags" in changes else None  # as apply() sets them
        values = {DB_NAMES.get(key, key): value for key, value in changes.items()}
        values["provisioning_status"] = c.PENDING_UPDATE
        result = serialize(member_rows.change_member(session, member, values, tags))
        provider = pool.provider
        call.services.providers.stored(session, lb_id, provider)
    call.services.providers.notify(lb_id, provider)
    return {"member": result}


def delete(call: Call, pool_id: str, member_id: str) -> None:
    """On rows (member_rows), as create."""
    with call.db.transaction() as session:
        pool, lb_id, member = _pool_and_member_rows(call, session, pool_id, member_id)
        member_rows.lock_for_member(session, pool, repair=True)
        member_rows.change_member(session, member, {"provisioning_status": c.PENDING_DELETE}, None)
        provider = pool.provider
        call.services.providers.stored(session, lb_id, provider)
    call.services.providers.notify(lb_id, provider)


def _pool_and_member_rows(call: Call, session: Session, pool_id: str, member_id: str) -> tuple[Any, str, Any]:
    """The pool row, its load balancer's id and the member's row object; 404 for a pool
    or member that is missing, DELETED or not the caller's, or a member of another pool."""
    connection = session.connection()
    pool = member_rows.read_pool(connection, pool_id)
    check_visible(call, pool, pools_api.DISPLAY)
    lb_id = member_rows.require_load_balancer(pool)
    member = member_rows.read_member(connection, pool, member_id, DISPLAY)
    check_visible(call, member, DISPLAY)
    return pool, lb_id, member


# ---- batch update --------------------------------------------------------------------


def _parse_batch(raw: Any) -> list[MemberCreate]:
    if not isinstance(raw, list):
        raise exc.InvalidInput("members", raw, "Expected a list.")
    members = [types.parse(MemberCreate, item, f"members.{i}") for i, item in enumerate(raw)]
    keys = [(m.address, m.protocol_port) for m in members]
    if len(set(keys)) != len(keys):
        raise exc.ValidationFailure("Member must be updated only once in the same request.")
    return members


def _additive_only(call: Call) -> bool:
    raw = call.request.query_params.get("additive_only", "false")
    return raw.strip().lower() in ("true", "1", "yes", "on", "y", "t")


def batch_update(call: Call, pool_id: str, raw: Any) -> None:
    """Make the pool's members what the request lists, matching on (address, port):
    create the new, update the matched, delete the rest unless `additive_only`.
    One transaction, one provider notification, however many members."""
    wanted = _parse_batch(raw)
    subnets = {m.subnet_id: resolve_subnet(call, m.subnet_id) for m in wanted}
    with call.db.transaction() as session:
        pool, lb = _pool_and_lb(session, call, pool_id)
        existing = {(m.ip_address, m.protocol_port): m for m in pools_api.live(pool.members)}
        new = [m for m in wanted if (m.address, m.protocol_port) not in existing]
        matched = [(existing[key], m) for m in wanted if (key := (m.address, m.protocol_port)) in existing]
        keep = {(m.address, m.protocol_port) for m in wanted}
        gone = [] if _additive_only(call) else [m for key, m in existing.items() if key not in keep]
        if not (new or matched or gone):
            return
        quota.check(session, call.conf, pool.project_id or "", "member", adding=len(new) - len(gone))
        pools_api.lock_for_pool_child(session, pool, lb)
        for body in new:
            build(call, session, pool, lb, body, subnets[body.subnet_id])
        for member, body in matched:
            apply(member, {key: getattr(body, key) for key in UPDATABLE_DEFAULTS})
            if "tags" in body.model_fields_set:
                member.tags = body.tags or []
            member.provisioning_status = c.PENDING_UPDATE
        for member in gone:
            member.provisioning_status = c.PENDING_DELETE
        provider = lb.provider
        call.services.providers.stored(session, lb.id, provider)
    call.services.providers.notify(lb.id, provider)


MEMBERS = "/pools/{pool_id}/members"
add_routes(
    router,
    [
        *crud(
            MEMBERS,
            MEMBERS + "/{member_id}",
            "member",
            create=create,
            list_all=list_all,
            show=show,
            update=update,
            delete=delete,
        ),
        Route("PUT", MEMBERS, batch_update, body_root="members", status=202, empty=True),
    ],
)
