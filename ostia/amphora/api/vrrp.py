"""VRRP routes; a local amphora answers 501 (see ostia.amphora.vrrp)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostia.amphora.agent import Agent
from ostia.amphora.api.responses import message
from ostia.amphora.vrrp import ACTIONS, VrrpError, VrrpUnsupported


def _agent(request: Request) -> Agent:
    return request.app.state.agent


async def upload_vrrp_config(request: Request) -> Response:
    agent = _agent(request)
    body = await request.body()
    try:
        await run_in_threadpool(agent.vrrp.upload_config, body)
    except VrrpUnsupported as exc:
        return message(501, "VRRP not supported", str(exc))
    except VrrpError as exc:
        return message(500, exc.message, exc.details)
    return message(200, "OK")


async def vrrp_action(request: Request) -> Response:
    agent = _agent(request)
    action = request.path_params["action"].lower()
    if action not in ACTIONS:
        return message(400, "Invalid Request", f"Unknown action: {request.path_params['action']}")
    try:
        details = await run_in_threadpool(agent.vrrp.action, action)
    except VrrpUnsupported as exc:
        return message(501, "VRRP not supported", str(exc))
    except VrrpError as exc:
        return message(500, exc.message, exc.details)
    return message(202, "OK", details)


ROUTES = [
    Route("/1.0/vrrp/upload", upload_vrrp_config, methods=["PUT"]),
    Route("/1.0/vrrp/{action}", vrrp_action, methods=["PUT"]),
]
