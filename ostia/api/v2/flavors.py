"""Flavors: named, user-visible choices of a flavor profile (writes are admin-only)."""

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
from ostia.api.v2 import flavorprofiles
from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.db import models

DISPLAY = "Flavor"
router = APIRouter()


class FlavorCreate(types.Schema):
    name: types.Text255
    description: types.Name = None
    enabled: bool = True
    flavor_profile_id: types.UUID


class FlavorUpdate(types.Schema):
    name: types.Text255 | None = None
    description: types.Name = None
    enabled: bool | None = None


def serialize(flavor: models.Flavor) -> dict[str, Any]:
    return {
        "id": flavor.id,
        "name": flavor.name,
        "description": flavor.description,
        "enabled": flavor.enabled,
        "flavor_profile_id": flavor.flavor_profile_id,
    }


F = models.Flavor
COLLECTION = Collection(
    model=F,
    singular="flavor",
    plural="flavors",
    display_name=DISPLAY,
    serialize=serialize,
    columns={
        "id": F.id,
        "name": F.name,
        "description": F.description,
        "enabled": F.enabled,
        "flavor_profile_id": F.flavor_profile_id,
    },
    tagged=False,
    default_sort=("id",),
)


def get_flavor(session: Session, flavor_id: str) -> models.Flavor:
    # The nil UUID stands for "no flavor" upstream and is never a flavor of its own.
    flavor = session.get(F, flavor_id) if flavor_id != c.NIL_UUID else None
    if flavor is None:
        raise exc.NotFound(DISPLAY, flavor_id)
    return flavor


def _check_name_free(session: Session, name: str, flavor_id: str | None = None) -> None:
    clash = session.scalar(select(F.id).where(F.name == name))
    if clash is not None and clash != flavor_id:
        raise exc.Conflict(f"A flavor of {name} already exists.")


def _flush_unique(session: Session, name: str) -> None:
    """Flush; a concurrent create of the same name is the same 409, not a 500."""
    try:
        session.flush()
    except sa_exc.IntegrityError:
        raise exc.Conflict(f"A flavor of {name} already exists.") from None


def create(call: Call, raw: Any) -> dict[str, Any]:
    require_admin(call)
    body = types.parse(FlavorCreate, raw)
    with call.db.transaction() as session:
        try:
            profiles.get_profile(session, flavorprofiles.KIND, body.flavor_profile_id)
        except exc.NotFound:
            raise exc.InvalidOption(body.flavor_profile_id, "flavor_profile_id") from None
        _check_name_free(session, body.name)
        flavor = F(
            id=models.new_id(),
            name=body.name,
            description=body.description,
            enabled=body.enabled,
            flavor_profile_id=body.flavor_profile_id,
        )
        session.add(flavor)
        _flush_unique(session, body.name)
        return {"flavor": serialize(flavor)}


def list_all(call: Call) -> dict[str, Any]:
    with call.db.transaction() as session:
        return list_page(session, COLLECTION, call.request.query_params, call.url, call.conf)


def show(call: Call, flavor_id: str) -> dict[str, Any]:
    with call.db.transaction() as session:
        return {"flavor": with_fields(call, serialize(get_flavor(session, flavor_id)))}


def update_flavor(call: Call, flavor_id: str, raw: Any) -> dict[str, Any]:
    require_admin(call)
    body = types.parse(FlavorUpdate, raw)
    sent = body.sent()
    if "name" in sent and sent["name"] is None:
        raise exc.InvalidOption("None", "name")
    with call.db.transaction() as session:
        flavor = get_flavor(session, flavor_id)
        if sent.get("name") is not None:
            _check_name_free(session, sent["name"], flavor.id)
            flavor.name = sent["name"]
        if "description" in sent:
            flavor.description = sent["description"]
        if sent.get("enabled") is not None:
            flavor.enabled = sent["enabled"]
        _flush_unique(session, flavor.name)
        return {"flavor": serialize(flavor)}


def delete(call: Call, flavor_id: str) -> None:
    """Refused while a load balancer uses the flavor; deleted ones let go of it."""
    require_admin(call)
    LB = models.LoadBalancer
    with call.db.transaction() as session:
        flavor = get_flavor(session, flavor_id)
        in_use = session.scalar(
            select(LB.id).where(LB.flavor_id == flavor.id, LB.provisioning_status != c.DELETED).limit(1)
        )
        if in_use is not None:
            raise exc.InUse(DISPLAY, flavor_id)
        session.execute(update(LB).where(LB.flavor_id == flavor.id).values(flavor_id=None))
        session.delete(flavor)


add_routes(
    router,
    crud(
        "/flavors",
        "/flavors/{flavor_id}",
        "flavor",
        create=create,
        list_all=list_all,
        show=show,
        update=update_flavor,
        delete=delete,
    ),
)
