"""Who is calling: the `[api_settings] auth_strategy` as ASGI middleware.

- `keystone`: every call but version discovery (`/`), `/healthcheck` and the dashboard's
  data-free page and files needs a valid `X-Auth-Token`; missing or invalid tokens answer
  401 with `WWW-Authenticate`.
- `testing`: the caller is who the X-Project-Id / X-User-Id / X-Roles headers say, with
  the policy enforced (upstream's mode for RBAC tests without Keystone).
- `noauth`: no middleware and no policy; `ostia.api.context.noauth_context` applies.

The middleware stores the caller's RequestContext where `get_context` finds it
(`request.state.context`); `ostia.api.policy` then checks each route's rule.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import threading
from collections.abc import Callable

import anyio
from fastapi import FastAPI
from oslo_config import cfg
from starlette.types import ASGIApp, Receive, Scope, Send

from ostia.api import dashboard, errors
from ostia.api.context import RequestContext
from ostia.api.keystone_tokens import Identity, IdentityUnavailable, InvalidToken, TokenValidator
from ostia.api.policy import Authorizer
from ostia.common import exceptions as exc

LOG = logging.getLogger(__name__)

# Upstream's keystonemiddleware wrapper skips exactly these.
UNAUTHENTICATED_PATHS = frozenset({"/", "/healthcheck"})
FAILED_AUTH_WINDOW = 60.0
_UNAUTHORIZED = "The request you have made requires authentication."
_UNAVAILABLE = "The identity service is unavailable; try again later."


def install(app: FastAPI, conf: cfg.ConfigOpts) -> None:
    """Put the configured authentication in front of `app` and the Authorizer on it."""
    strategy = conf.api_settings.auth_strategy
    if strategy == "noauth":
        app.state.authorizer = None
        return
    # Configuration errors first, before anything is logged.
    validator = TokenValidator.from_config(conf) if strategy == "keystone" else None
    authorizer = Authorizer(conf)
    app.state.authorizer = authorizer
    if validator is None:
        LOG.warning("auth_strategy = testing: callers are who their headers say")
        app.add_middleware(TrustedHeaders, authorizer=authorizer)
        return
    opts = conf.keystone_authtoken
    app.add_middleware(
        KeystoneAuth,
        validator=validator,
        authorizer=authorizer,
        www_authenticate_uri=opts.www_authenticate_uri or opts.auth_url,
    )


class FailedAuthLog:
    """Counts refused authentications and logs the count once per window (a minute).

    One line per window instead of one per failure: a client retrying a bad token in a
    loop must not flood the log, yet the operator sees the rate.
    """

    def __init__(
        self,
        window: float = FAILED_AUTH_WINDOW,
        schedule: Callable[[float, Callable[[], None]], object] | None = None,
    ) -> None:
        self.window = window
        self._schedule = schedule
        self._counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def record(self, reason: str) -> None:
        with self._lock:
            first = not self._counts
            self._counts[reason] += 1
        if first:
            schedule = self._schedule or _call_later
            schedule(self.window, self.flush)

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, collections.Counter()
        if counts:
            detail = ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items()))
            LOG.warning(
                "authentication: %d refused in the last %d s (%s)",
                sum(counts.values()),
                round(self.window),
                detail,
            )


def _call_later(delay: float, callback: Callable[[], None]) -> object:
    return asyncio.get_running_loop().call_later(delay, callback)


class KeystoneAuth:
    """ASGI middleware: X-Auth-Token validated against Keystone, or 401."""

    def __init__(
        self,
        app: ASGIApp,
        validator: TokenValidator,
        authorizer: Authorizer,
        www_authenticate_uri: str,
        failures: FailedAuthLog | None = None,
    ) -> None:
        self.app = app
        self.validator = validator
        self.authorizer = authorizer
        self.challenge = f'Keystone uri="{www_authenticate_uri}"'
        self.failures = failures or FailedAuthLog(FAILED_AUTH_WINDOW)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in UNAUTHENTICATED_PATHS
            or dashboard.is_public(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        token = _header(scope, b"x-auth-token")
        if not token:
            await self._refuse(scope, receive, send, "no token")
            return
        try:
            # A cached token needs no thread: only a Keystone round trip blocks.
            found = self.validator.cache.get(token)
            if found is None:
                found = await anyio.to_thread.run_sync(self.validator.validate, token)
        except InvalidToken:
            await self._refuse(scope, receive, send, "invalid token")
            return
        except IdentityUnavailable as err:
            LOG.error("authentication: cannot validate tokens with Keystone: %s", err)
            self.failures.record("identity service unavailable")
            await errors.response_for(exc.ServiceUnavailable(_UNAVAILABLE))(scope, receive, send)
            return
        context = context_of(found, token)
        context = dataclasses.replace(context, is_admin=self.authorizer.is_admin(context))
        scope.setdefault("state", {})["context"] = context
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, reason: str) -> None:
        client = scope.get("client") or ("?", 0)
        # Never the token itself, not even at DEBUG.
        LOG.debug(
            "authentication refused (%s): %s %s from %s", reason, scope["method"], scope["path"], client[0]
        )
        self.failures.record(reason)
        await errors.response_for(exc.Unauthorized(_UNAUTHORIZED, self.challenge))(scope, receive, send)


def context_of(found: Identity, token: str) -> RequestContext:
    """The RequestContext of a validated token's bearer (is_admin decided by policy later)."""
    return RequestContext(
        project_id=found.project_id,
        user_id=found.user_id,
        roles=found.roles,
        auth_token=token,
        system_scope=found.system_scope,
        domain_id=found.domain_id,
    )


class TrustedHeaders:
    """ASGI middleware for `auth_strategy = testing`: the headers name the caller."""

    def __init__(self, app: ASGIApp, authorizer: Authorizer) -> None:
        self.app = app
        self.authorizer = authorizer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            roles = tuple(r.strip() for r in (_header(scope, b"x-roles") or "").split(",") if r.strip())
            context = RequestContext(
                project_id=_header(scope, b"x-project-id") or _header(scope, b"x-tenant-id"),
                user_id=_header(scope, b"x-user-id"),
                roles=roles,
            )
            context = dataclasses.replace(context, is_admin=self.authorizer.is_admin(context))
            scope.setdefault("state", {})["context"] = context
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1")).strip()
    return None
