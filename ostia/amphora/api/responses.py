"""Response shapes of the agent API, as upstream's agent answers them.

Handlers answer `{"message": ..., "details": ...}`. Errors the framework raises (unknown
route, wrong method, unexpected failure) answer `{"error": "<code> <phrase>: <text>",
"http_code": <code>}`, the way upstream's werkzeug errors look.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from ostia.amphora.paths import is_object_id

WERKZEUG_TEXT = {
    400: ("Bad Request", "The browser (or proxy) sent a request that this server could not understand."),
    404: (
        "Not Found",
        "The requested URL was not found on the server. If you entered the URL "
        "manually please check your spelling and try again.",
    ),
    405: ("Method Not Allowed", "The method is not allowed for the requested URL."),
    500: (
        "Internal Server Error",
        "The server encountered an internal error and was unable "
        "to complete your request. Either the server is overloaded "
        "or there is an error in the application.",
    ),
}


def message(
    status: int, text: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"message": text}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


def framework_error(status: int, description: str | None = None) -> JSONResponse:
    phrase, default = WERKZEUG_TEXT.get(status, ("Error", ""))
    return JSONResponse(
        {"error": f"{status} {phrase}: {description or default}", "http_code": status}, status_code=status
    )


class InvalidId(Exception):
    pass


def checked_id(value: str) -> str:
    """Path ids become file names: refuse anything but UUID-like ids."""
    if not is_object_id(value):
        raise InvalidId(value)
    return value


def lb_not_found(lb_id: str) -> JSONResponse:
    return message(404, "Loadbalancer Not Found", f"No loadbalancer with UUID: {lb_id}")
