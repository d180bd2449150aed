"""Load balancer routes: upload/read the haproxy configuration, start/stop/reload, delete,
list listeners."""

from __future__ import annotations

import hashlib

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ostia.amphora.agent import Agent
from ostia.amphora.api import udp_listeners
from ostia.amphora.api.responses import checked_id, lb_not_found, message
from ostia.amphora.haproxy_process import HaproxyConfigError, HaproxyError

ACTIONS = {"start": "started", "stop": "stopped", "reload": "reloaded"}
ACTION_ERRORS = {"start": "starting", "stop": "stopping", "reload": "reloading"}


def _agent(request: Request) -> Agent:
    return request.app.state.agent


async def upload_config(request: Request) -> Response:
    agent = _agent(request)
    checked_id(request.path_params["amphora_id"])
    lb_id = checked_id(request.path_params["lb_id"])
    body = await request.body()

    def install() -> str:
        with agent.lb_lock(lb_id):
            return agent.configs.install(lb_id, body)

    try:
        md5 = await run_in_threadpool(install)
    except HaproxyConfigError as exc:
        return message(400, "Invalid request", exc.details)
    return message(202, "OK", headers={"ETag": md5})


async def get_config(request: Request) -> Response:
    agent = _agent(request)
    lb_id = checked_id(request.path_params["lb_id"])
    config = agent.configs.read(lb_id)
    if config is None:
        return lb_not_found(lb_id)
    return Response(config, media_type="text/plain", headers={"ETag": hashlib.md5(config).hexdigest()})


async def loadbalancer_action(request: Request) -> Response:
    agent = _agent(request)
    lb_id = checked_id(request.path_params["lb_id"])
    action = request.path_params["action"].lower()
    if action not in ACTIONS:
        return message(400, "Invalid Request", f"Unknown action: {request.path_params['action']}")
    if agent.udp.exists(lb_id):
        return await udp_listeners.listener_action(agent, lb_id, action)
    if not agent.configs.exists(lb_id):
        return lb_not_found(lb_id)

    try:
        await run_in_threadpool(agent.haproxy_action, lb_id, action)
    except HaproxyConfigError as exc:
        # The configuration, not the amphora: 400, so that the controller does not retry
        # it (upstream's agent answers 500 for every failed action).
        return message(400, f"Error {ACTION_ERRORS[action]} haproxy", str(exc))
    except HaproxyError as exc:
        return message(500, f"Error {ACTION_ERRORS[action]} haproxy", exc.details or exc.message)
    return message(202, "OK", f"haproxy for load balancer {lb_id} {ACTIONS[action]}")


async def delete_listeners(request: Request) -> Response:
    agent = _agent(request)
    lb_id = checked_id(request.path_params["lb_id"])
    if agent.udp.exists(lb_id):
        return await udp_listeners.delete_listener(agent, lb_id)

    def delete() -> None:
        with agent.lb_lock(lb_id):
            agent.haproxy.stop(lb_id)
            agent.configs.remove(lb_id)

    try:
        await run_in_threadpool(delete)
    except (HaproxyError, OSError) as exc:
        return message(500, "Error stopping haproxy", str(exc))
    return message(200, "OK")


async def list_listeners(request: Request) -> Response:
    agent = _agent(request)

    def collect() -> list[dict[str, str]]:
        result = []
        for lb_id, entries in agent.configs.all_listeners().items():
            status = "ACTIVE" if agent.haproxy.is_running(lb_id) else "STOPPED"
            for entry in entries:
                result.append({"status": status, "uuid": entry.listener_id, "type": entry.mode.upper()})
        return result + udp_listeners.list_entries(agent)

    return JSONResponse(await run_in_threadpool(collect))


ROUTES = [
    Route("/1.0/loadbalancer/{amphora_id}/{lb_id}/haproxy", upload_config, methods=["PUT"]),
    Route("/1.0/loadbalancer/{lb_id}/haproxy", get_config, methods=["GET"]),
    Route("/1.0/loadbalancer/{lb_id}/{action}", loadbalancer_action, methods=["PUT"]),
    Route("/1.0/listeners/{lb_id}", delete_listeners, methods=["DELETE"]),
    Route("/1.0/listeners", list_listeners, methods=["GET"]),
    *udp_listeners.ROUTES,
]
