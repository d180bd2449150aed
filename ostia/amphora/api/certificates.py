"""Certificate routes: listener/pool certificate files and the agent's own server cert."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ostia.amphora.agent import Agent
from ostia.amphora.api.responses import checked_id, message
from ostia.amphora.paths import is_cert_filename


def _agent(request: Request) -> Agent:
    return request.app.state.agent


def _filename(request: Request) -> str | None:
    name = request.path_params["filename"]
    return name if is_cert_filename(name) else None


async def upload_lb_certificate(request: Request) -> Response:
    agent = _agent(request)
    lb_id = checked_id(request.path_params["lb_id"])
    filename = _filename(request)
    if filename is None:
        return message(400, "Filename has wrong format")
    pem = await request.body()
    md5 = await run_in_threadpool(agent.certificates.put, lb_id, filename, pem)
    return message(200, "OK", headers={"ETag": md5})


async def get_lb_certificate(request: Request) -> Response:
    agent = _agent(request)
    lb_id = checked_id(request.path_params["lb_id"])
    filename = _filename(request)
    if filename is None:
        return message(400, "Filename has wrong format")
    md5 = agent.certificates.md5(lb_id, filename)
    if md5 is None:
        return message(404, "Certificate Not Found", f"No certificate with filename: {filename}")
    return JSONResponse({"md5sum": md5}, headers={"ETag": md5})


async def delete_lb_certificate(request: Request) -> Response:
    agent = _agent(request)
    lb_id = checked_id(request.path_params["lb_id"])
    filename = _filename(request)
    if filename is None:
        return message(400, "Filename has wrong format")
    agent.certificates.delete(lb_id, filename)
    return message(200, "OK")


async def upload_server_certificate(request: Request) -> Response:
    """Rotation: new connections get the new certificate; open ones and haproxy are
    untouched."""
    agent = _agent(request)
    pem = await request.body()
    try:
        await run_in_threadpool(agent.store_server_certificate, pem)
    except ValueError as exc:
        return message(400, "Invalid certificate", str(exc))
    # On the event loop thread: no TLS handshake reads the context while it changes.
    agent.use_server_certificate()
    return message(202, "OK")


ROUTES = [
    Route("/1.0/loadbalancer/{lb_id}/certificates/{filename}", upload_lb_certificate, methods=["PUT"]),
    Route("/1.0/loadbalancer/{lb_id}/certificates/{filename}", get_lb_certificate, methods=["GET"]),
    Route("/1.0/loadbalancer/{lb_id}/certificates/{filename}", delete_lb_certificate, methods=["DELETE"]),
    Route("/1.0/certificate", upload_server_certificate, methods=["PUT"]),
]
