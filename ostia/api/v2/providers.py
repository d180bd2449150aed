"""Providers: the enabled provider drivers and what their flavors and zones may set."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ostia.api.collection import requested_fields, select_fields
from ostia.api.resource import require_admin
from ostia.api.routes import Route, add_routes
from ostia.api.services import Call

router = APIRouter()


def _entries(call: Call, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """`{"name", "description"}` entries, filtered by `name`/`description`, with `fields`."""
    params = call.request.query_params
    entries = [{"name": name, "description": description} for name, description in pairs]
    for key in ("name", "description"):
        if key in params:
            entries = [e for e in entries if e[key] == params[key]]
    fields = requested_fields(params, call.conf)
    return [select_fields(e, fields) for e in entries]


def list_all(call: Call) -> dict[str, Any]:
    providers = call.services.providers
    return {"providers": _entries(call, list(providers.descriptions.items()))}


def flavor_capabilities(call: Call, provider: str) -> dict[str, Any]:
    require_admin(call)
    driver = call.services.providers.get(provider)
    return {"flavor_capabilities": _entries(call, list(driver.flavor_capabilities))}


def availability_zone_capabilities(call: Call, provider: str) -> dict[str, Any]:
    require_admin(call)
    driver = call.services.providers.get(provider)
    return {"availability_zone_capabilities": _entries(call, list(driver.availability_zone_capabilities))}


add_routes(
    router,
    [
        Route("GET", "/providers", list_all),
        Route("GET", "/providers/{provider}/flavor_capabilities", flavor_capabilities),
        Route("GET", "/providers/{provider}/availability_zone_capabilities", availability_zone_capabilities),
    ],
)
