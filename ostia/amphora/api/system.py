"""Routes about the amphora itself: version, info, details, agent configuration."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ostia.amphora import system_info
from ostia.amphora.agent import Agent
from ostia.amphora.api.responses import message


def _agent(request: Request) -> Agent:
    return request.app.state.agent


async def api_version(request: Request) -> Response:
    return JSONResponse({"api_version": system_info.API_VERSION})


async def get_info(request: Request) -> Response:
    agent = _agent(request)
    version = await run_in_threadpool(agent.haproxy.version)
    return JSONResponse(system_info.info(version, agent.paths.base_path, agent.paths.base_cert_dir))


async def get_details(request: Request) -> Response:
    agent = _agent(request)

    def collect() -> dict[str, object]:
        listeners = [
            entry.listener_id for entries in agent.configs.all_listeners().values() for entry in entries
        ]
        udp = agent.udp.ids()
        result = system_info.details(
            agent.haproxy.version(),
            len(agent.haproxy.running()),
            listeners + udp,
            topology=agent.conf.controller_worker.loadbalancer_topology,
            base_path=agent.paths.base_path,
            base_cert_dir=agent.paths.base_cert_dir,
        )
        if udp:
            # Upstream's names for its LVS listeners; here each is an nginx process.
            result["lvs_listener_process_count"] = sum(map(agent.udp.is_running, udp))
            result["nginx_version"] = agent.udp.nginx.version()
        return result

    return JSONResponse(await run_in_threadpool(collect))


async def update_config(request: Request) -> Response:
    agent = _agent(request)
    body = await request.body()
    try:
        await run_in_threadpool(agent.replace_config, body)
    except (ValueError, OSError) as exc:
        return message(500, "Unable to update amphora-agent configuration.", str(exc))
    return message(202, "OK")


ROUTES = [
    Route("/", api_version, methods=["GET"]),
    Route("/1.0/info", get_info, methods=["GET"]),
    Route("/1.0/details", get_details, methods=["GET"]),
    Route("/1.0/config", update_config, methods=["PUT"]),
]
