"""The agent's Starlette application and its error envelope."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ostia.amphora.agent import Agent
from ostia.amphora.api import certificates, haproxy, network, system, vrrp
from ostia.amphora.api.responses import InvalidId, framework_error, message

LOG = logging.getLogger(__name__)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = framework_error(exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _invalid_id(request: Request, exc: Exception) -> Response:
    return message(400, "Invalid request", f"{exc} is not a valid id")


async def _unexpected(request: Request, exc: Exception) -> Response:
    LOG.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return framework_error(500)


def create_app(agent: Agent) -> Starlette:
    # Certificate routes come before the haproxy upload route: both have three segments
    # after /loadbalancer/ and "certificates" is the more specific one.
    routes = [*system.ROUTES, *certificates.ROUTES, *haproxy.ROUTES, *network.ROUTES, *vrrp.ROUTES]
    app = Starlette(
        routes=routes,
        exception_handlers={
            HTTPException: _http_error,
            InvalidId: _invalid_id,
            Exception: _unexpected,
        },
    )
    app.state.agent = agent
    return app
