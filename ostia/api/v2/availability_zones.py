"""Availability zones: named, user-visible choices of a zone profile (keyed by name;
writes are admin-only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import exc as sa_exc
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ostia.api import profiles, types
from ostia.api.collection import Collection, list_page
from ostia.api.resource import require_admin, with_fields
from ostia.api.routes import add_routes, crud
from ostia.api.services import Call
from ostia.api.v2 import availability_zone_profiles
from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.db import models

DISPLAY = "Availability Zone"
router = APIRouter()
ZoneName = types.Annotated[types.Text255, types.Field(min_length=1)]


class AvailabilityZoneCreate(types.Schema):
    name: ZoneName
    description: types.Name = None
    enabled: bool = True
    availability_zone_profile_id: types.UUID


class AvailabilityZoneUpdate(types.Schema):
    description: types.Name = None
    enabled: bool | None = None


def serialize(zone: models.AvailabilityZone) -> dict[str, Any]:
    return {
        "name": zone.name,
        "description": zone.description,
        "enabled": zone.enabled,
        "availability_zone_profile_id": zone.availability_zone_profile_id,
    }


Z = models.AvailabilityZone
COLLECTION = Collection(
    model=Z,
    singular="availability_zone",
    plural="availability_zones",
    display_name=DISPLAY,
    serialize=serialize,
    columns={
        "name": Z.name,
        "description": Z.description,
        "enabled": Z.enabled,
        "availability_zone_profile_id": Z.availability_zone_profile_id,
    },
    tagged=False,
    default_sort=("name",),
)


def get_zone(session: Session, name: str) -> models.AvailabilityZone:
    zone = session.get(Z, name)
    if zone is None:
        raise exc.NotFound(DISPLAY, name)
    return zone


def _exists(name: str) -> exc.Conflict:
    return exc.Conflict(f"A availability zone of {name} already exists.")


def create(call: Call, raw: Any) -> dict[str, Any]:
    require_admin(call)
    body = types.parse(AvailabilityZoneCreate, raw)
    with call.db.transaction() as session:
        try:
            profiles.get_profile(session, availability_zone_profiles.KIND, body.availability_zone_profile_id)
        except exc.NotFound:
            raise exc.InvalidOption(
                body.availability_zone_profile_id, "availability_zone_profile_id"
            ) from None
        if session.get(Z, body.name) is not None:
            raise _exists(body.name)
        zone = Z(
            name=body.name,
            description=body.description,
            enabled=body.enabled,
            availability_zone_profile_id=body.availability_zone_profile_id,
        )
        session.add(zone)
        try:
            session.flush()
        except sa_exc.IntegrityError:
            raise _exists(body.name) from None
        return {"availability_zone": serialize(zone)}


def list_all(call: Call) -> dict[str, Any]:
    with call.db.transaction() as session:
        return list_page(session, COLLECTION, call.request.query_params, call.url, call.conf)


def show(call: Call, name: str) -> dict[str, Any]:
    with call.db.transaction() as session:
        return {"availability_zone": with_fields(call, serialize(get_zone(session, name)))}


def update_zone(call: Call, name: str, raw: Any) -> dict[str, Any]:
    require_admin(call)
    sent = types.parse(AvailabilityZoneUpdate, raw).sent()
    with call.db.transaction() as session:
        zone = get_zone(session, name)
        if "description" in sent:
            zone.description = sent["description"]
        if sent.get("enabled") is not None:
            zone.enabled = sent["enabled"]
        session.flush()
        return {"availability_zone": serialize(zone)}


def delete(call: Call, name: str) -> None:
    """Refused while a load balancer uses the zone; deleted ones let go of it."""
    require_admin(call)
    LB = models.LoadBalancer
    with call.db.transaction() as session:
        zone = get_zone(session, name)
        in_use = session.scalar(
            select(LB.id)
            .where(LB.availability_zone == zone.name, LB.provisioning_status != c.DELETED)
            .limit(1)
        )
        if in_use is not None:
            raise exc.InUse(DISPLAY, name)
        session.execute(update(LB).where(LB.availability_zone == zone.name).values(availability_zone=None))
        session.delete(zone)


add_routes(
    router,
    crud(
        "/availabilityzones",
        "/availabilityzones/{name}",
        "availability_zone",
        create=create,
        list_all=list_all,
        show=show,
        update=update_zone,
        delete=delete,
    ),
)
