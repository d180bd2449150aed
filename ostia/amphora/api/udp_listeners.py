"""UDP listener routes, on upstream's paths for its keepalived/LVS listeners.

`PUT /1.0/listeners/{amphora_id}/{listener_id}/udp_listener` uploads a listener's
configuration and `GET /1.0/listeners/{listener_id}/udp_listener` reads it back. The
load balancer routes for actions (`PUT /1.0/loadbalancer/{id}/{action}`), deletion
(`DELETE /1.0/listeners/{id}`) and the listener list hand a UDP listener's id to the
functions below, as upstream's agent does for its LVS listeners.
"""

from __future__ import annotations

import hashlib

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostia.amphora.agent import Agent
from ostia.amphora.api.responses import checked_id, message
from ostia.amphora.nginx_process import NginxConfigError, NginxError

ACTIONS = {"start": "started", "stop": "stopped", "reload": "reloaded"}
ACTION_ERRORS = {"start": "starting", "stop": "stopping", "reload": "reloading"}


def _agent(request: Request) -> Agent:
    return request.app.state.agent


def not_found(listener_id: str) -> Response:
    return message(404, "UDP Listener Not Found", f"No UDP listener with UUID: {listener_id}")


async def upload_config(request: Request) -> Response:
    agent = _agent(request)
    checked_id(request.path_params["amphora_id"])
    listener_id = checked_id(request.path_params["listener_id"])
    body = await request.body()

    def install() -> str:
        with agent.lb_lock(listener_id):
            return agent.udp.install(listener_id, body)

    try:
        md5 = await run_in_threadpool(install)
    except NginxConfigError as exc:
        return message(400, "Invalid request", exc.details)
    return message(200, "OK", headers={"ETag": md5})


async def get_config(request: Request) -> Response:
    agent = _agent(request)
    listener_id = checked_id(request.path_params["listener_id"])
    config = agent.udp.read(listener_id)
    if config is None:
        return not_found(listener_id)
    return Response(config, media_type="text/plain", headers={"ETag": hashlib.md5(config).hexdigest()})


async def listener_action(agent: Agent, listener_id: str, action: str) -> Response:
    """start/stop/reload of a UDP listener (the caller checked the action and the id)."""

    def act() -> None:
        with agent.lb_lock(listener_id):
            agent.udp.action(listener_id, action)

    try:
        await run_in_threadpool(act)
    except NginxConfigError as exc:
        return message(400, f"Error {ACTION_ERRORS[action]} UDP listener", str(exc))
    except NginxError as exc:
        return message(500, f"Error {ACTION_ERRORS[action]} UDP listener", exc.details or exc.message)
    return message(202, "OK", f"UDP listener {listener_id} {ACTIONS[action]}")


async def delete_listener(agent: Agent, listener_id: str) -> Response:
    def delete() -> None:
        with agent.lb_lock(listener_id):
            agent.udp.remove(listener_id)

    try:
        await run_in_threadpool(delete)
    except (NginxError, OSError) as exc:
        return message(500, "Error stopping UDP listener", str(exc))
    return message(200, "OK")


def list_entries(agent: Agent) -> list[dict[str, str]]:
    """`GET /1.0/listeners` entries of the UDP listeners."""
    return [
        {
            "status": "ACTIVE" if agent.udp.is_running(listener_id) else "STOPPED",
            "uuid": listener_id,
            "type": "UDP",
        }
        for listener_id in agent.udp.ids()
    ]


ROUTES = [
    Route("/1.0/listeners/{amphora_id}/{listener_id}/udp_listener", upload_config, methods=["PUT"]),
    Route("/1.0/listeners/{listener_id}/udp_listener", get_config, methods=["GET"]),
]
