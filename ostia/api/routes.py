"""How a v2 call reaches its handler: one route table and one endpoint shape for every resource.

A handler is a blocking function `handler(call, *path_params[, body])`; it runs in the
thread pool with the path parameters in the order the path names them and, for writes,
the object under the body's root key. Routes marked `empty` (every 204, and the 202s of
actions such as failover) answer with no body.

`ResourceRoutes` serves these routes as plain ASGI, in front of FastAPI's router: a path
is found in a segment tree (ostia.api.route_table) rather than by trying each route's
regular expression, the policy check is a call rather than a dependency FastAPI solves per
request, and errors become Octavia's fault body here. FastAPI still serves everything else
(version documents, the dashboard, the Neutron/Keystone/Nova look-ups, 404s).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ostia.api import errors
from ostia.api.context import get_context
from ostia.api.policy import authorize_route
from ostia.api.resource import json_body
from ostia.api.route_table import Match, RouteTable, WrongMethod
from ostia.api.services import call_of
from ostia.common import exceptions as exc

LOG = logging.getLogger(__name__)
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[..., Any]
    body_root: str | None = None
    status: int = 200
    empty: bool = False


# The routes each resource module declared for its router (see `add_routes`).
_declared: dict[int, tuple[APIRouter, list[Route]]] = {}


def add_routes(router: APIRouter, routes: Sequence[Route]) -> None:
    """Declare `routes` for `router`, the resource module's group of routes; `table`
    serves them under the prefixes the app gives the group. Order matters where two
    paths overlap: the first one added wins (a literal path before a templated sibling)."""
    _declared.setdefault(id(router), (router, []))[1].extend(routes)


def declared_routes(router: APIRouter) -> list[Route]:
    return list(_declared.get(id(router), (router, []))[1])


def table(groups: Iterable[tuple[APIRouter, Sequence[str]]]) -> RouteTable[Route]:
    """Every declared route of each group under each of its prefixes."""
    routes: RouteTable[Route] = RouteTable()
    for router, prefixes in groups:
        for prefix in prefixes:
            for route in declared_routes(router):
                routes.add(route.method, prefix + route.path, route)
    return routes


class JSONResponse(Response):
    """Handlers answer plain dicts of JSON types: dumped once, without FastAPI's recursive
    `jsonable_encoder` walk first (measured on a 900-load-balancer list: 40 ms of the event
    loop's time for the walk, 4 ms for the dump)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        # orjson writes the bytes json.dumps(ensure_ascii=False, separators=(",", ":"))
        # wrote for these answers in an eighth of the time (a 1,000-load-balancer list:
        # 4.4 -> 0.55 ms); only a float in exponent form is spelled otherwise (1e-7).
        return orjson.dumps(content, default=jsonable_encoder, option=orjson.OPT_NON_STR_KEYS)


class ResourceRoutes:
    """ASGI middleware: answers every route of `routes`, passes anything else to `app`."""

    def __init__(self, app: ASGIApp, routes: RouteTable[Route]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = self.routes.match(scope["method"], scope["path"])
        if isinstance(found, Match):
            response = await _answer(Request(scope, receive), found)
        elif isinstance(found, WrongMethod):
            response = _wrong_method(Request(scope, receive), found)
        else:
            redirect = self._slash_redirect(scope)
            if redirect is None:
                await self.app(scope, receive, send)  # FastAPI's routes, else its 404
                return
            response = redirect
        await response(scope, receive, send)

    def _slash_redirect(self, scope: Scope) -> Response | None:
        """As Starlette's router: `/loadbalancers/` answers 307 to `/loadbalancers`."""
        path: str = scope["path"]
        if not path.endswith("/") or path == "/":
            return None
        if self.routes.match(scope["method"], path.rstrip("/")) is None:
            return None
        return RedirectResponse(str(URL(scope=dict(scope, path=path.rstrip("/")))))


async def _answer(request: Request, found: Match[Route]) -> Response:
    route = found.entry.target
    try:
        context = get_context(request)
        authorizer = request.app.state.authorizer
        if authorizer is not None:
            context = await authorize_route(authorizer, request, found.entry.template, found.params, context)
            request.state.context = context
        args: list[Any] = list(found.values)
        if route.body_root is not None:
            args.append(await json_body(request, route.body_root))
        result = await in_thread(route.handler, call_of(request, context), *args)
    except exc.APIError as error:
        return errors.response_for(error)
    except Exception:  # noqa: BLE001 - any other failure is a 500 in the fault format
        return errors.unexpected(request)
    if route.empty or route.status == 204:
        return Response(status_code=route.status)
    return JSONResponse(result, status_code=route.status)


# Handlers block on the database, so they run off the event loop, in threads of their own:
# asyncio's executor hands work over through a C SimpleQueue and a future callback, about
# half the CPU of anyio's worker-thread hand-off (CapacityLimiter, queue.Queue, checkpoints)
# that starlette's run_in_threadpool goes through. As many threads as anyio's default limit.
HANDLER_THREADS = 40
_handler_pool = concurrent.futures.ThreadPoolExecutor(HANDLER_THREADS, thread_name_prefix="ostia-api")


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a handler thread, with this task's context variables (request id)."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_handler_pool, context.run, fn, *args)


def _wrong_method(request: Request, found: WrongMethod) -> Response:
    response = errors.fault(405, f"The method {request.method} is not allowed for {request.url.path}.")
    response.headers["Allow"] = ", ".join(found.allowed)
    return response


def crud(
    collection: str,
    item: str,
    root: str,
    *,
    create: Callable[..., Any],
    list_all: Callable[..., Any],
    show: Callable[..., Any],
    update: Callable[..., Any],
    delete: Callable[..., Any],
) -> list[Route]:
    """The five routes every resource has: create 201, list, show, update 200, delete 204."""
    return [
        Route("POST", collection, create, body_root=root, status=201),
        Route("GET", collection, list_all),
        Route("GET", item, show),
        Route("PUT", item, update, body_root=root),
        Route("DELETE", item, delete, status=204),
    ]
