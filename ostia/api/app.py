"""The API application: routes under /v2/lbaas and /v2.0/lbaas, errors, limits."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI
from oslo_config import cfg
from starlette.types import ASGIApp, Receive, Scope, Send

from ostia.api import auth, compute, dashboard, errors, identity, routes
from ostia.api.access_log import AccessLog
from ostia.api.network import routes as network_routes
from ostia.api.route_table import RouteTable
from ostia.api.services import Services
from ostia.api.v2 import ROUTERS, root
from ostia.common import exceptions as exc
from ostia.db.session import Database

LOG = logging.getLogger(__name__)
PREFIXES = ("/v2/lbaas", "/v2.0/lbaas")
ADMIN_PREFIXES = ("/v2/octavia", "/v2.0/octavia")


class RequestLimits:
    """ASGI middleware: body size limit (413), JSON-only Accept (406), `.json` suffix,
    no NUL in the path or query (400: PostgreSQL refuses it in every string)."""

    def __init__(self, app: ASGIApp, max_body: Callable[[], int]) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.endswith(".json"):
            scope = dict(scope, path=path[: -len(".json")])
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        max_body = self.max_body()
        try:
            _check_request(scope, headers, max_body)
        except exc.APIError as error:
            await errors.response_for(error)(scope, receive, send)
            return
        received = 0

        async def limited_receive():  # type: ignore[no-untyped-def]
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body:
                    raise exc.RequestTooLarge(TOO_LARGE)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except exc.RequestTooLarge as error:
            # Read by a layer outside the app's own error handlers (they answer it inside).
            await errors.response_for(error)(scope, receive, send)


TOO_LARGE = "Request is too large."


def _check_request(scope: Scope, headers: dict[str, str], max_body: int) -> None:
    query: bytes = scope.get("query_string", b"")
    if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
        raise exc.BadRequest("The request's path or query string holds a NUL character.")
    accept = headers.get("accept", "").strip()
    if accept and not _accepts_json(accept):
        raise exc.NotAcceptable("Only application/json is available.")
    length = headers.get("content-length")
    if length and length.isdigit() and int(length) > max_body:
        raise exc.RequestTooLarge(TOO_LARGE)


def _accepts_json(accept: str) -> bool:
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in ("*/*", "application/*", "application/json") or media.endswith("+json"):
            return True
    return False


def resource_routes() -> RouteTable[routes.Route]:
    """Every v2 resource route under each of its prefixes (/v2 and /v2.0)."""
    return routes.table((router, ADMIN_PREFIXES if admin else PREFIXES) for router, admin in ROUTERS)


def create_app(
    conf: cfg.ConfigOpts,
    db: Database,
    wake: Callable[[str], None] | None = None,
    services: Services | None = None,
) -> FastAPI:
    """Build the API for `conf` and `db`; `wake` reaches the worker in-process."""
    app = FastAPI(title="Ostia", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services or Services.build(conf, db, wake)
    errors.install_error_handlers(app)
    app.include_router(root.router)
    dashboard.install(app)  # /dashboard: page, fragments, sign-in, static files
    # Neutron and Keystone look-ups the clients make before load-balancer calls.
    app.include_router(network_routes.router)
    app.include_router(identity.router)
    # Nova look-ups: `openstack server list|show` lists amphorae as servers.
    app.include_router(compute.router)
    # The v2 resources, innermost: every route passes the central policy check
    # (ostia.api.policy) with the context the authentication layer found.
    app.add_middleware(routes.ResourceRoutes, routes=resource_routes())
    auth.install(app, conf)  # inside RequestLimits: oversized bodies never reach Keystone
    app.add_middleware(
        RequestLimits, max_body=lambda: app.state.services.conf.api_settings.max_request_body_size
    )
    # Outermost: every answer carries a request id, every request gets an access line.
    app.add_middleware(AccessLog)
    return app
