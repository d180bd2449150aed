"""Version discovery and the health check."""

from __future__ import annotations

import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import text

from ostia.common import constants as c

router = APIRouter()


def _version_date(minor: int) -> str:
    if minor in c.API_VERSION_DATES:
        return c.API_VERSION_DATES[minor]
    # Dates between the documented ones are spread evenly; clients only read ids.
    start = datetime.datetime(2016, 12, 11)
    end = datetime.datetime(2025, 2, 26)
    step = (end - start) / c.API_MINOR_VERSIONS
    return (start + step * minor).strftime("%Y-%m-%dT00:00:00Z")


def version_document(base_url: str) -> dict:
    href = base_url.rstrip("/") + "/v2"
    versions = []
    for minor in range(c.API_MINOR_VERSIONS + 1):
        versions.append(
            {
                "id": f"v2.{minor}",
                "status": "CURRENT" if minor == c.API_MINOR_VERSIONS else "SUPPORTED",
                "updated": _version_date(minor),
                "links": [{"href": href, "rel": "self"}],
            }
        )
    return {"versions": versions}


@router.get("/")
async def versions(request: Request) -> Response:
    # A browser (it names text/html; API clients ask for JSON or anything) goes to the
    # dashboard; clients get the version document unchanged, with the dashboard in a header.
    dashboard = request.scope.get("root_path", "") + "/dashboard"
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(dashboard, status_code=303)
    return JSONResponse(
        version_document(str(request.base_url)), headers={"Link": f'<{dashboard}>; rel="dashboard"'}
    )


@router.get("/v2")
@router.get("/v2/")
@router.get("/v2.0")
async def version_v2(request: Request) -> JSONResponse:
    # Upstream answers the bare string "v2"; clients that follow the version link from
    # the root (openstacksdk) need a version document, which keystoneauth accepts here.
    doc = version_document(str(request.base_url))
    current = doc["versions"][-1]
    return JSONResponse({"version": current, "versions": doc["versions"]})


@router.api_route("/healthcheck", methods=["GET", "HEAD"])
async def healthcheck(request: Request) -> Response:
    services = request.app.state.services
    if not services.conf.api_settings.healthcheck_enabled:
        return JSONResponse(
            {"faultcode": "Client", "faultstring": "Not Found", "debuginfo": None}, status_code=404
        )
    try:
        with services.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as err:  # noqa: BLE001 - any DB failure means unhealthy
        return Response(
            f"database unavailable: {type(err).__name__}", status_code=503, media_type="text/plain"
        )
    return Response("OK", media_type="text/plain")
