"""The API's access log and request ids: one INFO line per request, an id on every answer.

Outermost middleware: every answer, including 401/406/413 from inner layers, carries
`x-openstack-request-id: req-<uuid>`, and the id is bound for every log line written while
the request runs (errors, policy refusals, the worker's later lines via the LB row). As
upstream (oslo.middleware), the id is always our own; a well-formed incoming id is kept as
the caller's global request id in the access line.

Line format, one request per line, `key=value` after the method and path:
    INFO ostia.api.access [req-...] GET /v2/lbaas/loadbalancers status=200 duration_ms=3.2
        project=<id or -> global_request_id=<id> (only when the caller sent one)
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ostia.common import request_id

LOG = logging.getLogger("ostia.api.access")


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ident = request_id.new_request_id()
        # Inner layers put the authenticated context here; shared because scope copies
        # made further in are shallow.
        state = scope.setdefault("state", {})
        started = time.perf_counter()
        status = 500
        header = (request_id.HEADER.encode("latin-1"), ident.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = dict(message, headers=[*message.get("headers", []), header])
            await send(message)

        token = request_id.bind(ident)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _log(scope, status, (time.perf_counter() - started) * 1000, state)
            request_id.unbind(token)


def _log(scope: Scope, status: int, duration_ms: float, state: dict) -> None:
    context = state.get("context")
    project = getattr(context, "project_id", None) or "-"
    query = scope.get("query_string", b"").decode("latin-1")
    # The raw (still percent-encoded) path: the decoded one may hold a newline that would
    # forge a second log line.
    raw = scope.get("raw_path")
    path = _printable(raw.decode("latin-1") if raw else scope["path"]) + (
        f"?{_printable(query)}" if query else ""
    )
    extra = ""
    incoming = _header(scope, request_id.HEADER.encode("latin-1"))
    if request_id.is_request_id(incoming):
        extra = f" global_request_id={incoming}"
    LOG.info(
        "%s %s status=%d duration_ms=%.1f project=%s%s",
        scope["method"],
        path,
        status,
        duration_ms,
        project,
        extra,
    )


def _printable(text: str) -> str:
    """`text` with anything but printable ASCII written as a backslash escape."""
    if text.isascii() and text.isprintable():
        return text
    return text.encode("unicode_escape").decode("ascii")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None
