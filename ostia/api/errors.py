"""The API's error layer: every error becomes Octavia's fault body, never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ostia.common import exceptions as exc
from ostia.common import request_id

LOG = logging.getLogger(__name__)


def fault(code: int, message: str) -> JSONResponse:
    """Octavia's fault body for `code`; the reason goes to the log under the request id."""
    if code >= 500:
        LOG.error("answered %d: %s", code, message)
    else:
        LOG.debug("answered %d: %s", code, message)
    return JSONResponse(
        status_code=code,
        content={
            "faultcode": "Client" if code < 500 else "Server",
            "faultstring": _encodable(message),
            "debuginfo": None,
        },
    )


def _encodable(text: str) -> str:
    """`text` as valid UTF-8: an input value echoed in a message may hold a lone surrogate
    (JSON can spell one), which would make the response encoder itself fail."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def response_for(error: exc.APIError) -> JSONResponse:
    """The answer to `error`, in handlers and in the middleware that runs before them."""
    if isinstance(error, exc.NotAcceptable):
        # Upstream answers a refused Accept header in its web framework's own shape.
        LOG.debug("answered 406: %s", error.message)
        return JSONResponse(
            status_code=error.code,
            content={
                "errors": [
                    {
                        "status": error.code,
                        "title": "Not Acceptable",
                        "detail": error.message,
                        "request_id": request_id.current(),
                    }
                ]
            },
        )
    response = fault(error.code, error.message)
    if isinstance(error, exc.Unauthorized) and error.authenticate:
        response.headers["WWW-Authenticate"] = error.authenticate
    return response


async def _api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, exc.APIError)
    return response_for(error)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 404:
        message = f"The resource could not be found: {request.url.path}"
    elif error.status_code == 405:
        message = f"The method {request.method} is not allowed for {request.url.path}."
    else:
        message = str(error.detail)
    response = fault(error.status_code, message)
    for key, value in (error.headers or {}).items():
        response.headers[key] = value
    return response


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    first = error.errors()[0] if error.errors() else {}
    field = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
    return fault(
        400,
        f"Invalid input for field/attribute {field}. Value: '{first.get('input')}'. {first.get('msg', '')}",
    )


def unexpected(request: Request) -> JSONResponse:
    """The 500 for the exception being handled: its traceback goes to the log only."""
    LOG.exception("unexpected error answering %s %s", request.method, request.url.path)
    return fault(500, "An unexpected error occurred; the operator's log has the details.")


async def _unexpected(request: Request, _error: Exception) -> JSONResponse:
    return unexpected(request)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(exc.APIError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
