"""Route registration shared by every resource: one endpoint shape for all handlers.

A handler is a blocking function `handler(call, *path_params[, body])`; the endpoint runs
it in the thread pool, passes the path parameters in the order the path names them and,
for writes, the object under the body's root key. Routes marked `empty` (every 204, and the
202s of actions such as failover) answer with no body.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.encoders import jsonable_encoder

from ostia.api.resource import json_body
from ostia.api.services import in_thread


@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[..., Any]
    body_root: str | None = None
    status: int = 200
    empty: bool = False


def _endpoint(route: Route) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Any:
        args: list[Any] = list(request.path_params.values())
        if route.body_root is not None:
            args.append(await json_body(request, route.body_root))
        result = await in_thread(request, route.handler, *args)
        if route.empty or route.status == 204:
            return Response(status_code=route.status)
        return JSONResponse(result, status_code=route.status)

    endpoint.__name__ = f"{route.handler.__name__}_route"
    return endpoint


class JSONResponse(Response):
    """Handlers answer plain dicts of JSON types: dumped once, without FastAPI's recursive
    `jsonable_encoder` walk first (measured on a 900-load-balancer list: 40 ms of the event
    loop's time for the walk, 4 ms for the dump)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=jsonable_encoder
        ).encode("utf-8")


def add_routes(router: APIRouter, routes: Sequence[Route]) -> None:
    """Register `routes` in order (a literal path must come before a templated sibling)."""
    for route in routes:
        router.add_api_route(
            route.path,
            _endpoint(route),
            methods=[route.method],
            status_code=route.status,
            response_model=None,
        )


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
