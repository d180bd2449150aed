"""Read-only Neutron routes under /v2.0 and /v2 (the path keystoneauth discovers here).

Clients resolve `--vip-subnet-id`, `--vip-network-id`, `--vip-port-id`, `--vip-sg-id`,
`--vip-qos-policy-id` and `member create --subnet-id` with `GET .../subnets?id=X`, then
`?name=X`; an empty list makes them print "Unable to locate X". Subnets and networks come
from the configured network driver; ports, security groups and QoS policies do not exist
here, so their lists are empty and their ids are 404.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ostia.api.network import query, views
from ostia.drivers.network.base import NetworkDriver, NetworkNotFound, SubnetNotFound

PREFIXES = ("/v2.0", "/v2")

Item = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class NeutronResource:
    """One read-only Neutron collection answered from the network driver."""

    path: str
    plural: str
    singular: str
    fields: tuple[str, ...]
    not_found_type: str
    not_found_message: str  # formatted with {id}
    list_items: Callable[[NetworkDriver], list[Item]]
    # An item by its exact id, also one the driver would not list (the noop driver takes
    # any UUID as a subnet); None when there is none.
    find_item: Callable[[NetworkDriver, str], Item | None]


def _no_items(_driver: NetworkDriver) -> list[Item]:
    return []


def _no_item(_driver: NetworkDriver, _ident: str) -> Item | None:
    return None


def _find_subnet(driver: NetworkDriver, ident: str) -> Item | None:
    try:
        subnet = driver.get_subnet(ident)
    except SubnetNotFound:
        return None
    # Drivers also accept names; Neutron's GET by id does not.
    return views.subnet_view(subnet) if subnet.id == ident else None


def _find_network(driver: NetworkDriver, ident: str) -> Item | None:
    try:
        network = driver.get_network(ident)
    except NetworkNotFound:
        return None
    return views.network_view(network) if network.id == ident else None


RESOURCES = (
    NeutronResource(
        "subnets",
        "subnets",
        "subnet",
        views.SUBNET_FIELDS,
        "SubnetNotFound",
        "Subnet {id} could not be found.",
        lambda driver: [views.subnet_view(s) for s in driver.list_subnets()],
        _find_subnet,
    ),
    NeutronResource(
        "networks",
        "networks",
        "network",
        views.NETWORK_FIELDS,
        "NetworkNotFound",
        "Network {id} could not be found.",
        lambda driver: [views.network_view(n) for n in driver.list_networks()],
        _find_network,
    ),
    NeutronResource(
        "ports",
        "ports",
        "port",
        views.PORT_FIELDS,
        "PortNotFound",
        "Port {id} could not be found.",
        _no_items,
        _no_item,
    ),
    NeutronResource(
        "security-groups",
        "security_groups",
        "security_group",
        views.SECURITY_GROUP_FIELDS,
        "SecurityGroupNotFound",
        "Security group {id} does not exist",
        _no_items,
        _no_item,
    ),
    NeutronResource(
        "qos/policies",
        "policies",
        "policy",
        views.QOS_POLICY_FIELDS,
        "QosPolicyNotFound",
        "QoS policy {id} could not be found.",
        _no_items,
        _no_item,
    ),
)


def neutron_error(status: int, kind: str, message: str) -> JSONResponse:
    """Neutron's error body (the SDK reads `NeutronError.message` into its exception)."""
    return JSONResponse(
        {"NeutronError": {"type": kind, "message": message, "detail": ""}}, status_code=status
    )


def _driver(request: Request) -> NetworkDriver:
    driver: NetworkDriver = request.app.state.services.network
    return driver


def _candidates(
    resource: NeutronResource, driver: NetworkDriver, params: list[tuple[str, str]]
) -> list[Item]:
    items = resource.list_items(driver)
    known = {item["id"] for item in items}
    for ident in query.filter_ids(params):
        if ident not in known and (found := resource.find_item(driver, ident)) is not None:
            items.append(found)
            known.add(ident)
    return items


def list_resource(resource: NeutronResource, request: Request) -> JSONResponse:
    params = list(request.query_params.multi_items())
    url = str(request.url).split("?")[0]
    try:
        items = query.filtered(_candidates(resource, _driver(request), params), params, resource.fields)
        page = query.paged(items, params, url, resource.fields)
    except query.BadQuery as err:
        return neutron_error(400, "HTTPBadRequest", str(err))
    body: dict[str, Any] = {resource.plural: [query.selected(i, params) for i in page.items]}
    if page.links:
        body[f"{resource.plural}_links"] = page.links
    return JSONResponse(body)


def show_resource(resource: NeutronResource, request: Request, ident: str) -> JSONResponse:
    item = resource.find_item(_driver(request), ident)
    if item is None:
        return neutron_error(404, resource.not_found_type, resource.not_found_message.format(id=ident))
    params = list(request.query_params.multi_items())
    return JSONResponse({resource.singular: query.selected(item, params)})


def _add_routes(router: APIRouter, prefix: str, resource: NeutronResource) -> None:
    def list_items(request: Request) -> JSONResponse:
        return list_resource(resource, request)

    def show_item(request: Request, ident: str) -> JSONResponse:
        return show_resource(resource, request, ident)

    base = f"{prefix}/{resource.path}"
    router.add_api_route(base, list_items, methods=["GET"], include_in_schema=False)
    router.add_api_route(base + "/{ident}", show_item, methods=["GET"], include_in_schema=False)


def build_router() -> APIRouter:
    router = APIRouter()
    for prefix in PREFIXES:
        for resource in RESOURCES:
            _add_routes(router, prefix, resource)
    return router


router = build_router()
