"""Sign-in with a password for the dashboard: asks Keystone for a project-scoped token.

The browser cannot ask Keystone itself (another origin, and often another network), so
the API does it once and hands the token back; from then on the page sends that token
with every call like any other client, and the password is neither stored nor logged.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from ostia.api.keystone_tokens import identity_v3_url

router = APIRouter(prefix="/dashboard")


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=255)
    password: str = Field(max_length=4096)
    project: str = Field(min_length=1, max_length=255)
    domain: str = Field(default="Default", min_length=1, max_length=255)


def _fault(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"faultcode": "Client" if status < 500 else "Server", "faultstring": message, "debuginfo": None},
        status_code=status,
    )


def password_request(creds: Credentials) -> dict[str, Any]:
    """Keystone v3's body for a password login scoped to a project, both in one domain."""
    domain = {"name": creds.domain}
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": creds.username, "domain": domain, "password": creds.password}},
            },
            "scope": {"project": {"name": creds.project, "domain": domain}},
        }
    }


@router.post("/login")
async def login(request: Request) -> JSONResponse:
    conf = request.app.state.services.conf
    if conf.api_settings.auth_strategy != "keystone":
        return _fault(404, "This service does not use Keystone; no sign-in is needed.")
    try:
        creds = Credentials.model_validate_json(await request.body())
    except ValidationError:
        return _fault(400, "Give a user, a password and a project.")
    opts = conf.keystone_authtoken
    url = identity_v3_url(opts.www_authenticate_uri or opts.auth_url) + "/auth/tokens"
    verify: bool | ssl.SSLContext = (
        False if opts.insecure else ssl.create_default_context(cafile=opts.cafile) if opts.cafile else True
    )
    try:
        async with httpx.AsyncClient(verify=verify, timeout=opts.http_connect_timeout or 10) as client:
            answer = await client.post(url, json=password_request(creds))
    except httpx.HTTPError:
        return _fault(503, "The identity service is unavailable; try again later.")
    if answer.status_code in (400, 401, 403, 404):
        return _fault(401, "Keystone refused these credentials for this project.")
    token = answer.headers.get("x-subject-token")
    if answer.status_code != 201 or not token:
        return _fault(503, f"The identity service answered {answer.status_code}.")
    return JSONResponse({"token": token})
