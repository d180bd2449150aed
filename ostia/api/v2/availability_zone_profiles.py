"""Availability zone profiles (admin): a provider and the zone metadata it accepted."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from ostia.api import profiles, types
from ostia.api.resource import json_body
from ostia.api.services import Call, in_thread
from ostia.db import models

router = APIRouter()

KIND = profiles.ProfileKind(
    model=models.AvailabilityZoneProfile, display="Availability Zone Profile",
    singular="availability_zone_profile", plural="availability_zone_profiles",
    links_key="availability_zone_profile_links", data_field="availability_zone_data",
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


@router.post("/availabilityzoneprofiles", status_code=201)
async def create_route(request: Request) -> Any:
    return await in_thread(request, create, await json_body(request, KIND.singular))


@router.get("/availabilityzoneprofiles")
async def list_route(request: Request) -> Any:
    return await in_thread(request, profiles.list_all, KIND)


@router.get("/availabilityzoneprofiles/{ident}")
async def show_route(request: Request, ident: str) -> Any:
    return await in_thread(request, profiles.show, KIND, ident)


@router.put("/availabilityzoneprofiles/{ident}")
async def update_route(request: Request, ident: str) -> Any:
    return await in_thread(request, update, ident, await json_body(request, KIND.singular))


@router.delete("/availabilityzoneprofiles/{ident}", status_code=204)
async def delete_route(request: Request, ident: str) -> Response:
    await in_thread(request, profiles.delete, KIND, ident)
    return Response(status_code=204)
