"""Read-only Nova routes: amphorae as the servers `openstack server list|show` expects.

Upstream's amphorae are Nova servers named `amphora-<amphora id>` whose id is the
amphora's `compute_id`; an operator checks them with `openstack server list`. With
`--os-endpoint` that command talks to this server (under `/v2`, the version the root
document offers), so it is answered here from the amphora table, as the Neutron look-ups
in `ostia.api.network` are answered from the network driver. Only an admin sees amphorae
(they belong to the service, as in upstream's service project); others see none.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from ostia.api.context import get_context
from ostia.common import constants as c
from ostia.db import models
from ostia.db.session import Database

PREFIXES = ("/v2", "/v2.1")
MANAGEMENT_NETWORK = "lb-mgmt-net"
SERVICE_PROJECT = "service"
# What a local amphora runs: no Glance image or Nova flavor exists, so one of each is
# described here (the CLI looks both up to name the Image and Flavor columns).
AMPHORA_IMAGE_ID = "0b1d1a6e-6f73-5469-a000-616d70686f72"
AMPHORA_IMAGE_NAME = "ostia-amphora-haproxy"
AMPHORA_FLAVOR_ID = "amphora"
# Amphora status -> (Nova status, vm_state, power_state); unknown ones read as ACTIVE.
_NOVA_STATES: dict[str, tuple[str, str, int]] = {
    c.PENDING_CREATE: ("BUILD", "building", 0),
    c.AMPHORA_BOOTING: ("BUILD", "building", 0),
    c.AMPHORA_READY: ("ACTIVE", "active", 1),
    c.AMPHORA_ALLOCATED: ("ACTIVE", "active", 1),
    c.ERROR: ("ERROR", "error", 0),
    c.PENDING_DELETE: ("ACTIVE", "active", 1),
    "FAILOVER_STOPPED": ("ACTIVE", "active", 1),
}

router = APIRouter()


def _timestamp(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def server_view(amp: models.Amphora, base_url: str) -> dict[str, Any]:
    """Nova 2.1's server body for one amphora."""
    status, vm_state, power_state = _NOVA_STATES.get(amp.status, ("ACTIVE", "active", 1))
    addresses: dict[str, list[dict[str, Any]]] = {}
    if amp.lb_network_ip:
        version = 6 if ":" in amp.lb_network_ip else 4
        addresses[MANAGEMENT_NETWORK] = [
            {"version": version, "addr": amp.lb_network_ip, "OS-EXT-IPS:type": "fixed"}
        ]
    link = f"{base_url.rstrip('/')}/v2/servers/{amp.compute_id}"
    return {
        "id": amp.compute_id,
        "name": f"amphora-{amp.id}",
        "status": status,
        "tenant_id": SERVICE_PROJECT,
        "user_id": SERVICE_PROJECT,
        "metadata": {
            "amphora_id": amp.id,
            "role": amp.role or "",
            "load_balancer_id": amp.load_balancer_id or "",
        },
        "hostId": "",
        "image": {"id": amp.image_id or AMPHORA_IMAGE_ID, "links": []},
        "flavor": {"id": amp.compute_flavor or AMPHORA_FLAVOR_ID, "links": []},
        "created": _timestamp(amp.created_at),
        "updated": _timestamp(amp.updated_at or amp.created_at),
        "addresses": addresses,
        "accessIPv4": "",
        "accessIPv6": "",
        "links": [{"rel": "self", "href": link}],
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "OS-EXT-STS:task_state": None,
        "OS-EXT-STS:vm_state": vm_state,
        "OS-EXT-STS:power_state": power_state,
        "OS-EXT-AZ:availability_zone": amp.cached_zone or "nova",
        "OS-SRV-USG:launched_at": _timestamp(amp.created_at),
        "OS-SRV-USG:terminated_at": None,
        "config_drive": "",
        "key_name": None,
        "security_groups": [],
        "os-extended-volumes:volumes_attached": [],
    }


def _servers(request: Request) -> list[dict[str, Any]]:
    if not get_context(request).is_admin:
        return []
    db: Database = request.app.state.services.db
    with db.transaction() as session:
        rows = session.scalars(
            select(models.Amphora)
            .where(models.Amphora.status != c.DELETED, models.Amphora.compute_id.is_not(None))
            .order_by(models.Amphora.created_at.desc(), models.Amphora.id)
        ).all()
        return [server_view(row, str(request.base_url)) for row in rows]


def _matches(server: dict[str, Any], params: dict[str, str]) -> bool:
    """Nova's filters the CLI sends: name and ip are regular expressions, status exact."""
    name, status, ip = params.get("name"), params.get("status"), params.get("ip")
    if name and not _search(name, server["name"]):
        return False
    if status and status.upper() != server["status"]:
        return False
    if ip:
        addresses = [a["addr"] for net in server["addresses"].values() for a in net]
        if not any(_search(ip, address) for address in addresses):
            return False
    return True


def _search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return pattern == text


def _nova_error(code: int, message: str) -> JSONResponse:
    key = {400: "badRequest", 404: "itemNotFound"}.get(code, "computeFault")
    return JSONResponse({key: {"code": code, "message": message}}, status_code=code)


def list_servers(request: Request, detail: bool) -> JSONResponse:
    params = {k: v for k, v in request.query_params.items() if v not in ("", "None")}
    servers = [s for s in _servers(request) if _matches(s, params)]
    limit = params.get("limit")
    if limit is not None:
        if not limit.isdigit():
            return _nova_error(400, f"limit must be a non-negative integer, not {limit!r}")
        servers = servers[: int(limit)]
    if not detail:
        servers = [{"id": s["id"], "name": s["name"], "links": s["links"]} for s in servers]
    return JSONResponse({"servers": servers})


def show_server(request: Request, server_id: str) -> JSONResponse:
    for server in _servers(request):
        if server["id"] == server_id:
            return JSONResponse({"server": server})
    return _nova_error(404, f"Instance {server_id} could not be found.")


def _flavor_view(flavor_id: str) -> dict[str, Any]:
    return {
        "id": flavor_id,
        "name": flavor_id,
        "ram": 0,
        "vcpus": 0,
        "disk": 0,
        "OS-FLV-EXT-DATA:ephemeral": 0,
        "swap": "",
        "rxtx_factor": 1.0,
        "os-flavor-access:is_public": True,
        "links": [],
    }


def _flavor_ids(request: Request) -> list[str]:
    return sorted({s["flavor"]["id"] for s in _servers(request)} | {AMPHORA_FLAVOR_ID})


def list_flavors(request: Request) -> JSONResponse:
    return JSONResponse({"flavors": [_flavor_view(f) for f in _flavor_ids(request)]})


def show_flavor(request: Request, flavor_id: str) -> JSONResponse:
    if flavor_id in _flavor_ids(request):
        return JSONResponse({"flavor": _flavor_view(flavor_id)})
    return _nova_error(404, f"Flavor {flavor_id} could not be found.")


def _image() -> dict[str, Any]:
    return {
        "id": AMPHORA_IMAGE_ID,
        "name": AMPHORA_IMAGE_NAME,
        "status": "active",
        "visibility": "public",
        "container_format": "bare",
        "disk_format": "raw",
        "tags": ["amphora"],
        "min_disk": 0,
        "min_ram": 0,
        "protected": False,
        "owner": SERVICE_PROJECT,
        "self": f"/v2/images/{AMPHORA_IMAGE_ID}",
        "file": f"/v2/images/{AMPHORA_IMAGE_ID}/file",
        "schema": "/v2/schemas/image",
    }


def list_images(request: Request) -> JSONResponse:
    """Glance v2 (same /v2 root): the amphora image, for the Image column."""
    image = _image()
    wanted = request.query_params.get("id", "")
    if wanted.startswith("in:"):
        wanted_ids = set(wanted[3:].split(","))
        images = [image] if AMPHORA_IMAGE_ID in wanted_ids else []
    else:
        images = [image] if wanted in ("", AMPHORA_IMAGE_ID) else []
    return JSONResponse({"images": images, "schema": "/v2/schemas/images", "first": "/v2/images"})


def show_image(image_id: str) -> JSONResponse:
    if image_id == AMPHORA_IMAGE_ID:
        return JSONResponse(_image())  # Glance v2 answers the image unwrapped
    return JSONResponse(
        {"code": 404, "title": "Not Found", "message": f"No image found with ID {image_id}"}, status_code=404
    )


def build_router() -> APIRouter:
    router = APIRouter()
    for prefix in PREFIXES:

        def servers(request: Request) -> JSONResponse:
            return list_servers(request, detail=False)

        def servers_detail(request: Request) -> JSONResponse:
            return list_servers(request, detail=True)

        router.add_api_route(f"{prefix}/servers", servers, methods=["GET"], include_in_schema=False)
        router.add_api_route(
            f"{prefix}/servers/detail", servers_detail, methods=["GET"], include_in_schema=False
        )
        router.add_api_route(
            prefix + "/servers/{server_id}", show_server, methods=["GET"], include_in_schema=False
        )
        router.add_api_route(
            prefix + "/flavors/detail", list_flavors, methods=["GET"], include_in_schema=False
        )
        router.add_api_route(
            prefix + "/flavors/{flavor_id}", show_flavor, methods=["GET"], include_in_schema=False
        )
    router.add_api_route("/v2/images", list_images, methods=["GET"], include_in_schema=False)
    router.add_api_route("/v2/images/{image_id}", show_image, methods=["GET"], include_in_schema=False)
    return router


router = build_router()
