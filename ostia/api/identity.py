"""Keystone project look-ups, refused the way clients expect from a limited user.

`openstack loadbalancer quota show|set <project>` and `--project` resolve the project
through the identity endpoint, which with `--os-endpoint` is this server. Ostia has no
identity service: any string is a project id (noauth). python-openstackclient treats
403 on a project look-up as "not allowed to look, use the value as the id", so a 403 here
makes `quota set --loadbalancer 5 admin` act on project `admin`, where a 404 would stop it
with "No project with a name or ID of 'admin' exists."
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

router = APIRouter()

_MESSAGE = "This service has no identity API: a project name or id is used as given (auth_strategy = noauth)."


def _forbidden() -> JSONResponse:
    """Keystone's error body."""
    return JSONResponse({"error": {"code": 403, "title": "Forbidden", "message": _MESSAGE}}, status_code=403)


@router.get("/projects", include_in_schema=False)
@router.get("/projects/{project}", include_in_schema=False)
@router.get("/v3/projects", include_in_schema=False)
@router.get("/v3/projects/{project}", include_in_schema=False)
async def project_lookup() -> JSONResponse:
    return _forbidden()
