"""Flavor profiles (admin): a provider and the flavor metadata it accepted."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ostia.api import profiles, types
from ostia.api.routes import add_routes, crud
from ostia.api.services import Call
from ostia.db import models

router = APIRouter()

KIND = profiles.ProfileKind(
    model=models.FlavorProfile,
    display="Flavor Profile",
    singular="flavorprofile",
    plural="flavorprofiles",
    links_key="flavorprofile_links",
    data_field="flavor_data",
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


add_routes(
    router,
    crud(
        "/flavorprofiles",
        "/flavorprofiles/{ident}",
        KIND.singular,
        create=create,
        update=update,
        list_all=lambda call: profiles.list_all(call, KIND),
        show=lambda call, ident: profiles.show(call, KIND, ident),
        delete=lambda call, ident: profiles.delete(call, KIND, ident),
    ),
)
