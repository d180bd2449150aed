"""Who is calling: project, roles and whether the caller sees every project."""

from __future__ import annotations

import dataclasses

from fastapi import Request


@dataclasses.dataclass(frozen=True)
class RequestContext:
    project_id: str | None
    user_id: str | None = None
    roles: tuple[str, ...] = ()
    # With Keystone: the policy's context_is_admin verdict, widened per call to "this call
    # may reach any project" by the policy layer (so handlers' admin checks follow policy).
    is_admin: bool = False
    # Global readers (admin, global observer) list every project's objects.
    sees_all_projects: bool = False
    # Never in a repr: contexts may end up in logs.
    auth_token: str | None = dataclasses.field(default=None, repr=False)
    system_scope: str | None = None
    domain_id: str | None = None


def noauth_context(request: Request) -> RequestContext:
    """No authentication: the caller may act on any project, as upstream's noauth does.

    `X-Project-Id` names the caller's project when given; `X-Roles` is honoured so
    that tests can exercise non-admin behaviour without Keystone.
    """
    headers = request.headers
    roles = tuple(r.strip() for r in headers.get("X-Roles", "admin").split(",") if r.strip())
    is_admin = "admin" in roles
    return RequestContext(
        project_id=headers.get("X-Project-Id") or headers.get("X-Tenant-Id"),
        user_id=headers.get("X-User-Id"),
        roles=roles,
        is_admin=is_admin,
        sees_all_projects=is_admin,
    )


def get_context(request: Request) -> RequestContext:
    context = getattr(request.state, "context", None)
    if context is None:
        context = noauth_context(request)
        request.state.context = context
    return context
