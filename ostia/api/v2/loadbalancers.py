"""Load balancers: create with VIP allocation, list, show, update, delete, status, stats."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from sqlalchemy.orm import Session

from ostia.api import error_reason, quota, status, types
from ostia.api.collection import Collection, list_page, standard_columns
from ostia.api.resource import (
    check_visible,
    live_ids,
    project_for_create,
    project_scope,
    with_fields,
)
from ostia.api.routes import Route, add_routes, crud
from ostia.api.services import Call
from ostia.api.v2 import graph
from ostia.api.v2.loadbalancer_view import read_load_balancer
from ostia.api.v2.standard_fields import standard_fields
from ostia.api.v2.statistics import sum_statistics
from ostia.api.vip_allocation import VipAllocator
from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.common import request_id
from ostia.db import lifecycle, models
from ostia.db.session import SEND_LATER
from ostia.drivers.network import base as net
from ostia.drivers.provider.base import ProviderDriver

DISPLAY = "Load Balancer"
router = APIRouter()


class AdditionalVipSchema(types.Schema):
    subnet_id: str
    ip_address: types.IPAddress | None = None
    port_id: types.UUID | None = None


class LoadBalancerCreate(types.Schema):
    name: types.Name = None
    description: types.Name = None
    admin_state_up: bool = True
    project_id: types.ProjectId | None = None
    tenant_id: types.ProjectId | None = None
    # Subnets and networks may be named by id or, for the local network driver, by name.
    vip_subnet_id: types.Text255 | None = None
    vip_network_id: types.Text255 | None = None
    vip_port_id: types.Text255 | None = None
    vip_address: types.IPAddress | None = None
    vip_qos_policy_id: types.UUID | None = None
    vip_sg_ids: list[types.UUID] | None = None
    additional_vips: list[AdditionalVipSchema] | None = None
    provider: types.Annotated[str, types.Field(max_length=64)] | None = None
    flavor_id: types.UUID | None = None
    availability_zone: types.Text255 | None = None
    listeners: list[Any] | None = None
    pools: list[Any] | None = None
    tags: types.Tags | None = None


class LoadBalancerUpdate(types.Schema):
    name: types.Name = None
    description: types.Name = None
    admin_state_up: bool | None = None
    vip_qos_policy_id: types.UUID | None = None
    vip_sg_ids: list[types.UUID] | None = None
    tags: types.Tags | None = None


def serialize(lb: models.LoadBalancer) -> dict[str, Any]:
    vip = lb.vip
    return {
        **standard_fields(lb, error_reason.of_load_balancer(lb)),
        "name": lb.name,
        "description": lb.description,
        "vip_address": vip.ip_address if vip else None,
        "vip_port_id": vip.port_id if vip else None,
        "vip_subnet_id": vip.subnet_id if vip else None,
        "vip_network_id": vip.network_id if vip else None,
        "vip_qos_policy_id": vip.qos_policy_id if vip else None,
        "vip_sg_ids": (vip.sg_ids or []) if vip else [],
        "vip_vnic_type": vip.vnic_type if vip else "normal",
        "additional_vips": [
            {"subnet_id": a.subnet_id, "ip_address": a.ip_address, "port_id": a.port_id}
            for a in lb.additional_vips
        ],
        "listeners": live_ids(lb.listeners),
        "pools": live_ids(lb.pools),
        "provider": lb.provider or "octavia",
        "flavor_id": lb.flavor_id,
        "availability_zone": lb.availability_zone,
    }


LB = models.LoadBalancer
_ID_AND_STATUS = ("id", "provisioning_status")
COLLECTION = Collection(
    model=LB,
    singular="loadbalancer",
    plural="loadbalancers",
    display_name=DISPLAY,
    serialize=serialize,
    columns={
        **standard_columns(LB),
        "provider": LB.provider,
        "flavor_id": LB.flavor_id,
        "availability_zone": LB.availability_zone,
        "vip_address": models.Vip.ip_address,
        "vip_port_id": models.Vip.port_id,
        "vip_subnet_id": models.Vip.subnet_id,
        "vip_network_id": models.Vip.network_id,
        "vip_qos_policy_id": models.Vip.qos_policy_id,
    },
    # What `serialize` reads: a load balancer's answer names its listeners and pools by
    # id only, and shows none of the worker's bookkeeping (lease, attempts, request id).
    related_columns={
        "vip": ("ip_address", "port_id", "subnet_id", "network_id", "qos_policy_id", "sg_ids", "vnic_type"),
        "additional_vips": ("subnet_id", "ip_address", "port_id"),
        "listeners": _ID_AND_STATUS,
        "pools": _ID_AND_STATUS,
    },
    shown_columns=(
        "name",
        "description",
        "provisioning_status",
        "operating_status",
        "enabled",
        "created_at",
        "updated_at",
        "project_id",
        "provider",
        "flavor_id",
        "availability_zone",
        "last_error",
    ),
)


def get_load_balancer(session: Session, call: Call, lb_id: str) -> models.LoadBalancer:
    lb = status.get_live(session, LB, lb_id, DISPLAY)
    check_visible(call, lb, DISPLAY)
    return lb


# ---- VIP -----------------------------------------------------------------------------


def _choose_subnet(call: Call, body: LoadBalancerCreate) -> net.Subnet:
    networking = call.conf.networking
    network_driver = call.services.network
    if body.vip_port_id is not None:
        if not networking.allow_vip_port_id:
            raise exc.ValidationFailure(
                "use of vip_port_id is disallowed by this deployment's configuration."
            )
        raise exc.BadRequest(f"Port {body.vip_port_id} not found.")
    if body.vip_subnet_id is not None:
        if not networking.allow_vip_subnet_id:
            raise exc.ValidationFailure(
                "use of vip_subnet_id is disallowed by this deployment's configuration."
            )
        try:
            subnet = network_driver.get_subnet(body.vip_subnet_id)
        except net.SubnetNotFound:
            raise exc.BadRequest(f"Subnet {body.vip_subnet_id} not found.") from None
        if body.vip_network_id is not None:
            try:
                network = network_driver.get_network(body.vip_network_id)
            except net.NetworkNotFound:
                raise exc.BadRequest(f"Network {body.vip_network_id} not found.") from None
            if network.id != subnet.network_id:
                raise exc.ValidationFailure(f"Subnet {subnet.id} is not on network {network.id}.")
        return subnet
    if body.vip_network_id is not None:
        if not networking.allow_vip_network_id:
            raise exc.ValidationFailure(
                "use of vip_network_id is disallowed by this deployment's configuration."
            )
        try:
            network = network_driver.get_network(body.vip_network_id)
        except net.NetworkNotFound:
            raise exc.BadRequest(f"Network {body.vip_network_id} not found.") from None
        subnets = [network_driver.get_subnet(s) for s in network.subnet_ids]
        if body.vip_address:
            subnets = [s for s in subnets if s.contains(body.vip_address)]
        subnets.sort(key=lambda s: s.ip_version)
        if not subnets:
            raise exc.ValidationFailure(
                f"No subnet on network {network.id} can hold the requested VIP address."
            )
        return subnets[0]
    raise exc.ValidationFailure("VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.")


def _check_network_allowed(call: Call, network_id: str) -> None:
    networking = call.conf.networking
    if networking.valid_vip_networks and network_id not in networking.valid_vip_networks:
        raise exc.ValidationFailure(
            f"Supplied network {network_id} is not in the list of allowed VIP networks."
        )
    if network_id in (networking.denylist_vip_networks or []):
        raise exc.ValidationFailure(f"Supplied network {network_id} is not allowed for VIPs.")


def _allocate(allocator: VipAllocator, subnet: net.Subnet, address: str | None) -> net.VipAllocation:
    try:
        return allocator.allocate(subnet, address)
    except net.AddressUnavailable as err:
        if "already in use" in str(err):
            raise exc.Conflict(str(err)) from None
        raise exc.ValidationFailure(str(err)) from None


def _known_subnet_ids(call: Call, subnet: net.Subnet, body: LoadBalancerCreate) -> list[str]:
    """The subnets whose VIP cursors a create locks, all at once and before any allocation:
    the VIP's and each existing one of the additional VIPs' (the others are refused later)."""
    found = [subnet.id]
    for extra in body.additional_vips or []:
        try:
            found.append(call.services.network.get_subnet(extra.subnet_id).id)
        except net.SubnetNotFound:
            pass
    return found


def _build_vips(
    call: Call, session: Session, body: LoadBalancerCreate, lb_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The rows of the new load balancer's VIP and additional VIPs, addresses allocated."""
    subnet = _choose_subnet(call, body)
    _check_network_allowed(call, subnet.network_id)
    allocator = VipAllocator(session, call.services.network, _known_subnet_ids(call, subnet, body))
    allocation = _allocate(allocator, subnet, body.vip_address)
    vip = {
        "load_balancer_id": lb_id,
        "ip_address": allocation.ip_address,
        "subnet_id": subnet.id,
        "network_id": subnet.network_id,
        "port_id": allocation.port_id,
        "qos_policy_id": body.vip_qos_policy_id,
        "octavia_owned": True,
        "vnic_type": "normal",
        "sg_ids": body.vip_sg_ids or None,
    }
    extras: list[dict[str, Any]] = []
    seen = {subnet.id}
    for extra in body.additional_vips or []:
        try:
            extra_subnet = call.services.network.get_subnet(extra.subnet_id)
        except net.SubnetNotFound:
            raise exc.BadRequest(f"Subnet {extra.subnet_id} not found.") from None
        if extra_subnet.id in seen:
            raise exc.ValidationFailure(
                f"Duplicate VIP subnet(s) specified. Only one IP can be bound per subnet: {extra_subnet.id}"
            )
        if extra_subnet.network_id != subnet.network_id:
            raise exc.ValidationFailure("All VIP subnets must belong to the same network.")
        seen.add(extra_subnet.id)
        extra_allocation = _allocate(allocator, extra_subnet, extra.ip_address)
        extras.append(
            {
                "load_balancer_id": lb_id,
                "subnet_id": extra_subnet.id,
                "network_id": extra_subnet.network_id,
                "ip_address": extra_allocation.ip_address,
                "port_id": extra.port_id,
            }
        )
    return vip, extras


# ---- flavor, availability zone, topology ---------------------------------------------


def _flavor_profile(session: Session, flavor_id: str | None) -> models.FlavorProfile | None:
    """The profile of an existing, enabled flavor (400 otherwise)."""
    if flavor_id is None:
        return None
    flavor = session.get(models.Flavor, flavor_id)
    if flavor is None or flavor_id == c.NIL_UUID:
        raise exc.ValidationFailure("Invalid flavor_id.")
    if not flavor.enabled:
        raise exc.DisabledOption("flavor", flavor_id)
    return flavor.flavor_profile


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _zone_metadata(session: Session, name: str | None) -> dict[str, Any]:
    """Metadata of an existing, enabled availability zone (400 otherwise)."""
    if name is None:
        return {}
    zone = session.get(models.AvailabilityZone, name)
    if zone is None:
        raise exc.ValidationFailure("Invalid availability zone.")
    if not zone.enabled:
        raise exc.DisabledOption("availability_zone", name)
    return _json_object(zone.availability_zone_profile.availability_zone_data)


def _choose_provider(
    call: Call, body: LoadBalancerCreate, profile: models.FlavorProfile | None
) -> tuple[str, ProviderDriver]:
    """The requested provider, else the flavor's, else the default; checked against both."""
    providers = call.services.providers
    name = body.provider or (profile.provider_name if profile else providers.default)
    driver = providers.get(name)
    if profile is not None and profile.provider_name != name:
        raise exc.ValidationFailure(f"Flavor '{body.flavor_id}' is not compatible with provider '{name}'")
    return name, driver


# ---- handlers ----------------------------------------------------------------------


def _insert_load_balancer(
    call: Call,
    session: Session,
    body: LoadBalancerCreate,
    project_id: str,
    provider: str,
    topology: str,
    settled: bool,
) -> Any:
    """Store the new load balancer, its VIPs and tags as rows (no ORM unit of work), the
    load balancer already settled if `settled`; return them as the plain object its answer
    is made from, as a GET reads one, PENDING_CREATE."""
    lb_id = models.new_id()
    row: dict[str, Any] = {
        "id": lb_id,
        "created_at": models.utcnow(),
        "updated_at": None,
        "project_id": project_id,
        "name": body.name,
        "description": body.description,
        "enabled": body.admin_state_up,
        "topology": topology,
        "server_group_id": None,
        "provider": provider,
        "flavor_id": body.flavor_id,
        "availability_zone": body.availability_zone,
        "lease_owner": None,
        "lease_expires": None,
        "reconcile_attempts": 0,
        "last_error": None,
        "request_id": request_id.current(),
        "provisioning_status": c.PENDING_CREATE,
        "operating_status": c.OFFLINE,
    }
    tags = list(dict.fromkeys(body.tags or []))
    conn = session.connection()
    answer = dict(row)
    if settled:
        lifecycle.settle_new_load_balancer(row)
    # Rows no one reads back: on PostgreSQL they go with the next statement, the VIPs' with
    # the COMMIT. The VIP last: its allocation locks the subnet's cursor row until the
    # commit, and concurrent creates in one subnet take turns on that lock.
    conn.execute(sa.insert(LB), row, execution_options=SEND_LATER)
    if tags:
        tag_rows = [{"resource_id": lb_id, "tag": tag} for tag in tags]
        conn.execute(sa.insert(models.Tag), tag_rows, execution_options=SEND_LATER)
    vip, extras = _build_vips(call, session, body, lb_id)
    conn.execute(sa.insert(models.Vip), vip, execution_options=SEND_LATER)
    if extras:
        conn.execute(sa.insert(models.AdditionalVip), extras, execution_options=SEND_LATER)
    return SimpleNamespace(
        **answer,
        vip=SimpleNamespace(**vip),
        additional_vips=[SimpleNamespace(**extra) for extra in extras],
        tags=sorted(tags),
        listeners=[],
        pools=[],
    )


def create(call: Call, raw: Any) -> dict[str, Any]:
    body = types.parse(LoadBalancerCreate, raw)
    project_id = project_for_create(call, body.project_id or body.tenant_id)
    with call.db.transaction() as session:
        profile = _flavor_profile(session, body.flavor_id)
        provider_name, provider = _choose_provider(call, body, profile)
        # The provider has the last word on flavor and zone metadata (501 if refused).
        flavor = _json_object(profile.flavor_data) if profile else {}
        provider.validate_flavor(flavor)
        provider.validate_availability_zone(_zone_metadata(session, body.availability_zone))
        quota.check(session, call.conf, project_id, "load_balancer")
        topology = flavor.get("loadbalancer_topology", call.conf.controller_worker.loadbalancer_topology)
        with_children = bool(body.listeners or body.pools)
        # A provider whose changes are complete once stored (noop): a plain load balancer
        # is inserted settled, ACTIVE, with no UPDATE after; its answer shows PENDING_CREATE.
        settled = not with_children and call.services.providers.completes_on_store(provider_name)
        stored = _insert_load_balancer(call, session, body, project_id, provider_name, topology, settled)
        if with_children:
            # A single-call create: its children are built on the load balancer's object.
            lb = session.get(LB, stored.id)
            assert lb is not None
            graph.create_children(call, session, lb, provider, body.listeners or [], body.pools or [])
            session.flush()
            result = {**serialize(lb), **graph.full_children(lb)}
            call.services.providers.stored(session, lb, provider_name)
    if not with_children:
        result = serialize(stored)  # plain values: made after the commit, the lock released
    call.services.providers.notify(result["id"], provider_name)
    return {"loadbalancer": result}


def list_all(call: Call) -> dict[str, Any]:
    with call.db.transaction() as session:
        # VIP attributes filter and sort like any other: the collection layer joins them.
        return list_page(
            session,
            COLLECTION,
            call.request.query_params,
            call.url,
            call.conf,
            project_scope(call, LB.project_id),
        )


def show(call: Call, lb_id: str) -> dict[str, Any]:
    with call.db.reading() as connection:
        lb = read_load_balancer(connection, lb_id)
        if lb is None or lb.provisioning_status == c.DELETED:
            raise exc.NotFound(DISPLAY, lb_id)
        check_visible(call, lb, DISPLAY)
        return {"loadbalancer": with_fields(call, serialize(lb))}


def _read_live(call: Call, session: Session, lb_id: str) -> Any:
    """The load balancer's row, VIP and child ids as a plain object (404 if missing,
    DELETED or another project's)."""
    lb = read_load_balancer(session.connection(), lb_id)
    if lb is None or lb.provisioning_status == c.DELETED:
        raise exc.NotFound(DISPLAY, lb_id)
    check_visible(call, lb, DISPLAY)
    return lb


# Built once. The fields a PUT did not send are written back as they were read: the lock
# taken before (PENDING_UPDATE) keeps every other API writer off the row meanwhile.
_UPDATE_FIELDS = (
    sa.update(LB)
    .where(LB.id == sa.bindparam("lb_id"))
    .values(
        name=sa.bindparam("new_name"),
        description=sa.bindparam("new_description"),
        enabled=sa.bindparam("new_enabled"),
        updated_at=sa.bindparam("now"),
    )
)
_UPDATE_VIP = (
    sa.update(models.Vip)
    .where(models.Vip.load_balancer_id == sa.bindparam("lb_id"))
    .values(qos_policy_id=sa.bindparam("new_qos_policy_id"), sg_ids=sa.bindparam("new_sg_ids"))
)


def _apply_update(lb: Any, sent: dict[str, Any]) -> dict[str, Any]:
    """Put the sent fields on `lb`, the plain object the answer is made from, as the lock's
    UPDATE leaves it (PENDING_UPDATE); return the load balancer's columns to write."""
    for key in ("name", "description"):
        if key in sent:
            setattr(lb, key, sent[key])
    if sent.get("admin_state_up") is not None:
        lb.enabled = sent["admin_state_up"]
    lb.provisioning_status, lb.last_error, lb.updated_at = c.PENDING_UPDATE, None, models.utcnow()
    return {"name": lb.name, "description": lb.description, "enabled": lb.enabled}


def _store_update(session: Session, lb: Any, sent: dict[str, Any], columns: dict[str, Any] | None) -> None:
    """Write the sent fields to the rows: `columns` (from `_apply_update`), unless the lock's
    UPDATE wrote them already (None), the VIP's and the tags."""
    conn = session.connection()
    if columns is not None:
        conn.execute(
            _UPDATE_FIELDS,
            {
                "lb_id": lb.id,
                "now": lb.updated_at,
                **{f"new_{name}": value for name, value in columns.items()},
            },
        )
    if lb.vip is not None and ("vip_qos_policy_id" in sent or "vip_sg_ids" in sent):
        if "vip_qos_policy_id" in sent:
            lb.vip.qos_policy_id = sent["vip_qos_policy_id"]
        if "vip_sg_ids" in sent:
            lb.vip.sg_ids = sent["vip_sg_ids"] or None
        params = {"lb_id": lb.id, "new_qos_policy_id": lb.vip.qos_policy_id, "new_sg_ids": lb.vip.sg_ids}
        conn.execute(_UPDATE_VIP, params)
    if "tags" in sent:
        lb.tags = sorted(_replace_tags(conn, lb.id, sent["tags"] or []))


def _replace_tags(conn: sa.Connection, resource_id: str, tags: list[str]) -> list[str]:
    """The resource's tags become `tags` (each once), as `TaggedMixin.tags` sets them."""
    wanted = list(dict.fromkeys(tags))
    conn.execute(sa.delete(models.Tag).where(models.Tag.resource_id == resource_id))
    if wanted:
        conn.execute(sa.insert(models.Tag), [{"resource_id": resource_id, "tag": tag} for tag in wanted])
    return wanted


def _begin_and_settle(
    call: Call,
    session: Session,
    lb: Any,
    allowed: tuple[str, ...],
    target: str,
    changes: dict[str, Any] | None = None,
) -> bool:
    """With a provider whose changes are complete once stored (noop), the lock and the
    settle of a load balancer without listeners and pools, and `changes` to its columns,
    in one UPDATE (`lifecycle.begin_and_settle`); False when that does not apply or is
    refused, and the caller then locks (409 if busy), writes and settles as usual."""
    if lb.listeners or lb.pools or not call.services.providers.completes_on_store(lb.provider):
        return False
    # A PUT's row gets the time its answer shows (`_apply_update`).
    now = lb.updated_at if changes else None
    return lifecycle.begin_and_settle(session, lb.id, allowed, target, changes, now)


def update(call: Call, lb_id: str, raw: Any) -> dict[str, Any]:
    body = types.parse(LoadBalancerUpdate, raw)
    sent = body.sent()
    # On rows, not ORM objects: the same one query as a GET and the lock's UPDATE (with the
    # noop provider's settle and the sent columns in it when there are no children; else
    # the columns' UPDATE after it).
    with call.db.transaction() as session:
        lb = _read_live(call, session, lb_id)
        columns = _apply_update(lb, sent)
        settled = _begin_and_settle(call, session, lb, lifecycle.UPDATE_FROM, c.PENDING_UPDATE, columns)
        if not settled:
            status.lock_row_for_update(session, lb_id)
        _store_update(session, lb, sent, None if settled else columns)
        result = serialize(lb)
        if not settled:
            call.services.providers.stored(session, lb_id, lb.provider)
    call.services.providers.notify(lb_id, lb.provider)
    return {"loadbalancer": result}


def delete(call: Call, lb_id: str) -> None:
    cascade = call.request.query_params.get("cascade", "false").strip().lower() in (
        "true",
        "1",
        "yes",
        "on",
        "y",
        "t",
    )
    with call.db.transaction() as session:
        lb = _read_live(call, session, lb_id)
        live_children = [o for o in [*lb.listeners, *lb.pools] if o.provisioning_status != c.DELETED]
        if live_children and not cascade:
            raise exc.ValidationFailure(f"Cannot delete Load Balancer {lb_id} - it has children")
        if not _begin_and_settle(call, session, lb, lifecycle.DELETE_FROM, c.PENDING_DELETE):
            status.lock_row_for_delete(session, lb_id)
            if live_children:
                _mark_children_for_deletion(session, lb_id)
            call.services.providers.stored(session, lb_id, lb.provider)
    call.services.providers.notify(lb_id, lb.provider)


def _mark_children_for_deletion(session: Session, lb_id: str) -> None:
    """A cascade delete: the live listeners and pools go PENDING_DELETE with the LB."""
    conn = session.connection()
    for child in (models.Listener, models.Pool):
        conn.execute(
            sa.update(child)
            .where(child.load_balancer_id == lb_id, child.provisioning_status != c.DELETED)
            .values(provisioning_status=c.PENDING_DELETE, updated_at=models.utcnow())
        )


def failover(call: Call, lb_id: str) -> None:
    with call.db.transaction() as session:
        lb = get_load_balancer(session, call, lb_id)
        status.request_failover(session, lb)  # the worker replaces what is marked
        provider = lb.provider
        call.services.providers.stored(session, lb, provider)
    call.services.providers.notify(lb_id, provider)


def status_tree(call: Call, lb_id: str) -> dict[str, Any]:
    with call.db.transaction() as session:
        lb = get_load_balancer(session, call, lb_id)
        return {"statuses": {"loadbalancer": graph.status_tree(lb)}}


def stats(call: Call, lb_id: str) -> dict[str, Any]:
    with call.db.transaction() as session:
        lb = get_load_balancer(session, call, lb_id)
        listener_ids = [li.id for li in lb.listeners]
        return {"stats": sum_statistics(session, listener_ids)}


ONE = "/loadbalancers/{lb_id}"
add_routes(
    router,
    [
        *crud(
            "/loadbalancers",
            ONE,
            "loadbalancer",
            create=create,
            list_all=list_all,
            show=show,
            update=update,
            delete=delete,
        ),
        Route("PUT", ONE + "/failover", failover, status=202, empty=True),
        Route("GET", ONE + "/status", status_tree),
        Route("GET", ONE + "/statuses", status_tree),
        Route("GET", ONE + "/stats", stats),
    ],
)
