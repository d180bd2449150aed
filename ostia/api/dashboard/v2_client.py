"""The dashboard reads through the v2 API itself, as the caller, in-process.

Each read is an HTTP request sent through the whole ASGI application (authentication,
policy, validation, the route handlers) with the browser's own credentials headers, so the
page never shows what the same caller could not `GET` with the CLI.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import httpx
from fastapi import Request

from ostia.common import request_id

# What names the caller: Keystone's token, or the trusted headers of the `testing` strategy
# and of noauth's optional project/roles.
CREDENTIAL_HEADERS = ("x-auth-token", "x-project-id", "x-tenant-id", "x-user-id", "x-roles")
LBAAS = "/v2/lbaas"


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def items(self, root: str) -> list[dict[str, Any]]:
        """The collection under `root` of a successful list, or nothing."""
        if not self.ok or not isinstance(self.body, dict):
            return []
        found = self.body.get(root)
        return found if isinstance(found, list) else []


class V2Client:
    """GETs on this application's v2 API, as the caller of `request`."""

    def __init__(self, request: Request) -> None:
        self._headers = {
            name: request.headers[name] for name in CREDENTIAL_HEADERS if name in request.headers
        }
        self._headers["accept"] = "application/json"
        # Each read gets its own access line; the fragment's request id ties them together.
        outer = request_id.current()
        if outer:
            self._headers[request_id.HEADER] = outer
        self._transport = httpx.ASGITransport(app=request.app)
        # The host only shows in the `links` of answers, which the dashboard never follows.
        self._client = httpx.AsyncClient(
            transport=self._transport, base_url="http://dashboard.invalid", headers=self._headers, timeout=30
        )

    async def get(self, path: str) -> Answer:
        response = await self._client.get(path)
        try:
            body = response.json()
        except ValueError:
            body = None
        return Answer(response.status_code, body)

    async def get_all(self, paths: list[str]) -> list[Answer]:
        return list(await asyncio.gather(*(self.get(path) for path in paths)))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> V2Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
