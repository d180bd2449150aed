"""Flavor profiles (admin): a provider and the flavor metadata it accepted."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from ostia.api import profiles, types
from ostia.api.resource import json_body
from ostia.api.services import Call, in_thread
from ostia.db import models

router = APIRouter()

KIND = profiles.ProfileKind(
    model=models.FlavorProfile, display="Flavor Profile", singular="flavorprofile",
    plural="flavorprofiles", links_key="flavorprofile_links", data_field="flavor_data",
    validate=lambda driver, data: driver.validate_flavor(data),
    used_by=models.Flavor.flavor_profile_id,
)


class FlavorProfileCreate(types.Schema):
    name: types.Text255
    provider_name: types.Text255
    flavor_data: profiles.DataText


class FlavorProfileUpdate(types.Schema):
    name: types.Text255 | None = None
    provider_name: types.Text255 | None = None
    flavor_data: profiles.DataText | None = None


def create(call: Call, raw: Any) -> dict[str, Any]:
    return profiles.create(call, KIND, types.parse(FlavorProfileCreate, raw))


def update(call: Call, ident: str, raw: Any) -> dict[str, Any]:
    return profiles.update(call, KIND, ident, types.parse(FlavorProfileUpdate, raw))


@router.post("/flavorprofiles", status_code=201)
async def create_route(request: Request) -> Any:
    return await in_thread(request, create, await json_body(request, KIND.singular))


@router.get("/flavorprofiles")
async def list_route(request: Request) -> Any:
    return await in_thread(request, profiles.list_all, KIND)


@router.get("/flavorprofiles/{ident}")
async def show_route(request: Request, ident: str) -> Any:
    return await in_thread(request, profiles.show, KIND, ident)


@router.put("/flavorprofiles/{ident}")
async def update_route(request: Request, ident: str) -> Any:
    return await in_thread(request, update, ident, await json_body(request, KIND.singular))


@router.delete("/flavorprofiles/{ident}", status_code=204)
async def delete_route(request: Request, ident: str) -> Response:
    await in_thread(request, profiles.delete, KIND, ident)
    return Response(status_code=204)
