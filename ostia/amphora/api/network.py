"""Network routes: plug/vip, plug/network and the interface lookup."""

from __future__ import annotations

import ipaddress
import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ostia.amphora.agent import Agent
from ostia.amphora.api.responses import message
from ostia.amphora.plug import PlugError, parse_network_plug, parse_vip_plug


def _agent(request: Request) -> Agent:
    return request.app.state.agent


async def _json_body(request: Request) -> object:
    raw = await request.body()
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


async def plug_vip(request: Request) -> Response:
    agent = _agent(request)
    try:
        plug = parse_vip_plug(request.path_params["vip"], await _json_body(request))
    except PlugError as exc:
        return JSONResponse(exc.body, status_code=exc.status)
    try:
        interface = await run_in_threadpool(agent.plugger.plug_vip, plug)
    except PlugError as exc:
        return JSONResponse(exc.body, status_code=exc.status)
    vips = " ".join([plug.vip, *(extra["ip_address"] for extra in plug.additional_vips)])
    return message(202, "OK", f"VIPs plugged on interface {interface}: {vips}")


async def plug_network(request: Request) -> Response:
    agent = _agent(request)
    try:
        plug = parse_network_plug(await _json_body(request))
    except PlugError as exc:
        return JSONResponse(exc.body, status_code=exc.status)
    try:
        interface, existed = await run_in_threadpool(agent.plugger.plug_network, plug)
    except PlugError as exc:
        return JSONResponse(exc.body, status_code=exc.status)
    if existed:
        return message(202, "OK", f"Updated existing interface {interface}")
    return message(202, "OK", f"Plugged on interface {interface}")


async def get_interface(request: Request) -> Response:
    try:
        address = ipaddress.ip_address(request.path_params["ip_addr"])
    except ValueError:
        return message(400, "Invalid IP address")
    interface = await run_in_threadpool(_agent(request).plugger.interface_of, str(address))
    if interface is not None:
        return JSONResponse({"message": "OK", "interface": interface})
    return message(404, "Error interface not found for IP address")


ROUTES = [
    Route("/1.0/plug/vip/{vip}", plug_vip, methods=["POST", "PUT"]),
    Route("/1.0/plug/network", plug_network, methods=["POST", "PUT"]),
    Route("/1.0/interface/{ip_addr}", get_interface, methods=["GET"]),
]
