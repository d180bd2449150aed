"""Authentication pieces without a Keystone: the token cache, the failure count, the
middleware's answers, and what a token body tells."""

from __future__ import annotations

import asyncio
import datetime
import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ostia.api import auth
from ostia.api.keystone_tokens import (
    Identity,
    IdentityUnavailable,
    InvalidToken,
    TokenCache,
    TokenValidator,
    identity_v3_url,
)
from ostia.api.policy import Authorizer
from ostia.common import config as config_mod

NOW = datetime.datetime.now(datetime.UTC)


def identity(expires_in: float = 3600, roles: tuple[str, ...] = ("member",)) -> Identity:
    return Identity(
        user_id="u1", project_id="p1", roles=roles, expires_at=NOW + datetime.timedelta(seconds=expires_in)
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_keeps_a_token_for_its_ttl_only():
    clock = Clock()
    cache = TokenCache(ttl=300, clock=clock)
    cache.put("tok", identity())
    assert cache.get("tok") == identity()
    clock.now += 301
    assert cache.get("tok") is None


def test_cache_never_outlives_the_token():
    clock = Clock()
    cache = TokenCache(ttl=300, clock=clock)
    cache.put("tok", identity(expires_in=10))
    clock.now += 11
    assert cache.get("tok") is None
    cache.put("gone", identity(expires_in=-1))
    assert cache.get("gone") is None


def test_cache_holds_no_token_and_stays_bounded():
    cache = TokenCache(ttl=300, limit=3)
    for n in range(5):
        cache.put(f"secret-token-{n}", identity())
    assert len(cache) == 3
    assert cache.get("secret-token-0") is None and cache.get("secret-token-4") is not None
    assert not any("secret" in key for key in cache._entries)


def test_zero_ttl_disables_the_cache():
    cache = TokenCache(ttl=0)
    cache.put("tok", identity())
    assert cache.get("tok") is None


def test_failed_authentications_are_logged_once_per_window(caplog):
    scheduled = []
    failures = auth.FailedAuthLog(window=60, schedule=lambda delay, fn: scheduled.append(fn))
    for reason in ("no token", "invalid token", "invalid token"):
        failures.record(reason)
    assert len(scheduled) == 1  # one timer per window, not one per failure
    with caplog.at_level(logging.WARNING, logger="ostia.api.auth"):
        scheduled[0]()
    assert caplog.messages == ["authentication: 3 refused in the last 60 s (invalid token: 2, no token: 1)"]
    failures.record("no token")
    assert len(scheduled) == 2


def test_identity_url_names_version_3_once():
    assert identity_v3_url("http://k:5000") == "http://k:5000/v3"
    assert identity_v3_url("http://k:5000/v3/") == "http://k:5000/v3"
    assert identity_v3_url("https://k/identity") == "https://k/identity/v3"


def test_token_body_gives_user_project_roles_and_expiry():
    body = {
        "token": {
            "methods": ["password"],
            "expires_at": "2031-01-01T00:00:00.000000Z",
            "user": {"id": "u1", "name": "alice", "domain": {"id": "default"}},
            "project": {"id": "p1", "name": "demo", "domain": {"id": "default"}},
            "roles": [{"id": "r1", "name": "member"}, {"id": "r2", "name": "reader"}],
        }
    }
    found = Identity.from_token_body(body)
    assert (found.user_id, found.project_id, found.roles) == ("u1", "p1", ("member", "reader"))
    assert found.expires_at == datetime.datetime(2031, 1, 1, tzinfo=datetime.UTC)
    assert found.system_scope is None and found.domain_id is None
    system = Identity.from_token_body(
        {
            "token": {
                "methods": ["password"],
                "expires_at": "2031-01-01T00:00:00Z",
                "user": {"id": "u1", "name": "admin", "domain": {"id": "default"}},
                "system": {"all": True},
                "roles": [{"id": "r", "name": "admin"}],
            }
        }
    )
    assert system.system_scope == "all" and system.project_id is None


def test_keystone_strategy_needs_auth_url_and_a_service_user():
    conf = config_mod.new_config()
    conf([], project="octavia", default_config_files=[])
    with pytest.raises(config_mod.ConfigError, match="auth_url"):
        TokenValidator.from_config(conf)
    conf.set_override("auth_url", "http://127.0.0.1:1/v3", "keystone_authtoken")
    with pytest.raises(config_mod.ConfigError, match="username and password"):
        TokenValidator.from_config(conf)


class FakeValidator:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.cache = TokenCache(ttl=0)

    def validate(self, token: str) -> Identity:
        self.seen.append(token)
        if token == "good":
            return identity(roles=("admin", "member", "reader"))
        if token == "down":
            raise IdentityUnavailable("ConnectFailure")
        raise InvalidToken()


class AsgiClient:
    """Calls an ASGI app in-process (httpx's ASGI transport, one event loop per call)."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                return await client.get(path, headers=headers)

        return asyncio.run(call())


@pytest.fixture
def keystone_app() -> tuple[AsgiClient, FakeValidator]:
    async def whoami(request: Request) -> JSONResponse:
        context = request.state.context
        return JSONResponse(
            {
                "user": context.user_id,
                "project": context.project_id,
                "roles": list(context.roles),
                "is_admin": context.is_admin,
            }
        )

    async def root(_request: Request) -> JSONResponse:
        return JSONResponse({"versions": []})

    conf = config_mod.new_config()
    conf([], project="octavia", default_config_files=[])
    validator = FakeValidator()
    app = Starlette(routes=[Route("/", root), Route("/healthcheck", root), Route("/v2/lbaas/whoami", whoami)])
    app.add_middleware(
        auth.KeystoneAuth,
        validator=validator,
        authorizer=Authorizer(conf),
        www_authenticate_uri="http://keystone/v3",
        failures=auth.FailedAuthLog(schedule=lambda *_: None),
    )
    return AsgiClient(app), validator


def test_middleware_answers_401_with_the_challenge(keystone_app):
    client, _ = keystone_app
    for headers in ({}, {"X-Auth-Token": "bad"}):
        response = client.get("/v2/lbaas/whoami", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Keystone uri="http://keystone/v3"'
        assert response.json() == {
            "faultcode": "Client",
            "debuginfo": None,
            "faultstring": auth._UNAUTHORIZED,
        }


def test_middleware_lets_discovery_and_healthcheck_through(keystone_app):
    client, validator = keystone_app
    assert client.get("/").status_code == 200
    assert client.get("/healthcheck").status_code == 200
    assert validator.seen == []


def test_middleware_puts_the_bearer_in_the_context(keystone_app):
    client, _ = keystone_app
    assert client.get("/v2/lbaas/whoami", headers={"X-Auth-Token": "good"}).json() == {
        "user": "u1",
        "project": "p1",
        "roles": ["admin", "member", "reader"],
        "is_admin": True,
    }


def test_middleware_answers_503_when_keystone_cannot_be_asked(keystone_app):
    client, _ = keystone_app
    response = client.get("/v2/lbaas/whoami", headers={"X-Auth-Token": "down"})
    assert response.status_code == 503 and response.json()["faultcode"] == "Server"
