"""Availability zone profiles (admin): a provider and the zone metadata it accepted."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ostia.api import profiles, types
from ostia.api.routes import add_routes, crud
from ostia.api.services import Call
from ostia.db import models

router = APIRouter()

KIND = profiles.ProfileKind(
    model=models.AvailabilityZoneProfile,
    display="Availability Zone Profile",
    singular="availability_zone_profile",
    plural="availability_zone_profiles",
    links_key="availability_zone_profile_links",
    data_field="availability_zone_data",
    validate=lambda driver, data: driver.validate_availability_zone(data),
    used_by=models.AvailabilityZone.availability_zone_profile_id,
)


class AvailabilityZoneProfileCreate(types.Schema):
    name: types.Text255
    provider_name: types.Text255
    availability_zone_data: profiles.DataText


class AvailabilityZoneProfileUpdate(types.Schema):
    name: types.Text255 | None = None
    provider_name: types.Text255 | None = None
    availability_zone_data: profiles.DataText | None = None


def create(call: Call, raw: Any) -> dict[str, Any]:
    return profiles.create(call, KIND, types.parse(AvailabilityZoneProfileCreate, raw))


def update(call: Call, ident: str, raw: Any) -> dict[str, Any]:
    return profiles.update(call, KIND, ident, types.parse(AvailabilityZoneProfileUpdate, raw))


add_routes(
    router,
    crud(
        "/availabilityzoneprofiles",
        "/availabilityzoneprofiles/{ident}",
        KIND.singular,
        create=create,
        update=update,
        list_all=lambda call: profiles.list_all(call, KIND),
        show=lambda call, ident: profiles.show(call, KIND, ident),
        delete=lambda call, ident: profiles.delete(call, KIND, ident),
    ),
)
