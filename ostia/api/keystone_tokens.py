"""Keystone token validation with keystoneauth1, and a cache of validated tokens.

The API asks Keystone `GET /v3/auth/tokens` (X-Subject-Token) with the service user of
`[keystone_authtoken]`, as keystonemiddleware does, and keeps each answer for
`token_cache_time` seconds but never past the token's own expiry. Tokens are cached under
their SHA-256, so a memory dump of the cache shows no token.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

from keystoneauth1 import access, identity
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from oslo_config import cfg

from ostia.common.config import ConfigError

CACHE_LIMIT = 10000


class InvalidToken(Exception):
    """Keystone does not know the token, or it expired or was revoked."""


class IdentityUnavailable(Exception):
    """Keystone could not be asked (down, unreachable, or refusing our service user)."""


@dataclasses.dataclass(frozen=True)
class Identity:
    """What a valid token says about its bearer."""

    user_id: str | None
    project_id: str | None
    roles: tuple[str, ...]
    expires_at: datetime.datetime | None
    user_name: str | None = None
    project_name: str | None = None
    domain_id: str | None = None
    system_scope: str | None = None

    @classmethod
    def from_token_body(cls, body: dict[str, Any]) -> Identity:
        info = access.create(body=body)
        return cls(
            user_id=info.user_id,
            project_id=info.project_id,
            roles=tuple(info.role_names or ()),
            expires_at=info.expires,
            user_name=info.username,
            project_name=info.project_name,
            domain_id=info.domain_id if getattr(info, "domain_scoped", False) else None,
            system_scope="all" if info.system_scoped else None,
        )

    def expired(self, now: datetime.datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class TokenCache:
    """Validated tokens for at most `ttl` seconds each, and never past their expiry."""

    def __init__(
        self, ttl: float, limit: int = CACHE_LIMIT, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.limit = limit
        self.clock = clock
        self._entries: dict[str, tuple[Identity, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()

    def get(self, token: str) -> Identity | None:
        key = self.key(token)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            found, until = entry
            if until <= self.clock() or found.expired(_utcnow()):
                del self._entries[key]
                return None
            return found

    def put(self, token: str, found: Identity) -> None:
        if self.ttl <= 0:
            return
        until = self.clock() + self.ttl
        if found.expires_at is not None:
            until = min(until, self.clock() + (found.expires_at - _utcnow()).total_seconds())
        with self._lock:
            if len(self._entries) >= self.limit:
                self._evict()
            self._entries[self.key(token)] = (found, until)

    def _evict(self) -> None:
        now = self.clock()
        for key in [k for k, (_, until) in self._entries.items() if until <= now]:
            del self._entries[key]
        while len(self._entries) >= self.limit:
            del self._entries[next(iter(self._entries))]  # the oldest insertion

    def __len__(self) -> int:
        return len(self._entries)


def identity_v3_url(auth_url: str) -> str:
    """`auth_url` as the Identity v3 root (`.../v3`), whether or not it names the version."""
    url = auth_url.rstrip("/")
    return url if url.endswith("/v3") else url + "/v3"


class TokenValidator:
    """Validates user tokens against Keystone with the `[keystone_authtoken]` service user."""

    def __init__(
        self, session: ks_session.Session, identity_url: str, cache: TokenCache, connect_retries: int = 3
    ) -> None:
        self.session = session
        self.tokens_url = identity_v3_url(identity_url) + "/auth/tokens"
        self.cache = cache
        self.connect_retries = connect_retries

    @classmethod
    def from_config(cls, conf: cfg.ConfigOpts) -> TokenValidator:
        opts = conf.keystone_authtoken
        if not opts.auth_url:
            raise ConfigError(
                "auth_strategy = keystone needs [keystone_authtoken] auth_url "
                "(or set [api_settings] auth_strategy = noauth)"
            )
        if opts.auth_type not in ("password", "v3password"):
            raise ConfigError(
                f"[keystone_authtoken] auth_type = {opts.auth_type!r} is not supported; use password"
            )
        if not opts.username or opts.password is None:
            raise ConfigError(
                "[keystone_authtoken] needs username and password of the service user that validates tokens"
            )
        plugin = identity.Password(
            auth_url=opts.auth_url,
            username=opts.username,
            password=opts.password,
            project_name=opts.project_name,
            user_domain_name=opts.user_domain_name,
            project_domain_name=opts.project_domain_name,
        )
        verify: bool | str = False if opts.insecure else (opts.cafile or True)
        session = ks_session.Session(auth=plugin, verify=verify, timeout=opts.http_connect_timeout)
        return cls(
            session,
            opts.auth_url,
            TokenCache(opts.token_cache_time),
            connect_retries=opts.http_request_max_retries,
        )

    def validate(self, token: str) -> Identity:
        """The bearer of `token`, or InvalidToken / IdentityUnavailable. Blocking."""
        cached = self.cache.get(token)
        if cached is not None:
            return cached
        try:
            response = self.session.get(
                self.tokens_url,
                headers={"X-Subject-Token": token},
                authenticated=True,
                raise_exc=False,
                connect_retries=self.connect_retries,
            )
        except ks_exc.ClientException as err:
            # Covers connection failures, time-outs and our own service user's login failing.
            raise IdentityUnavailable(type(err).__name__) from None
        if response.status_code in (401, 404):
            # 404: unknown, expired or revoked token. 401 after keystoneauth's own retry with
            # a fresh service token means Keystone refuses the subject token too.
            raise InvalidToken()
        if response.status_code != 200:
            raise IdentityUnavailable(f"Keystone answered {response.status_code}")
        try:
            found = Identity.from_token_body(response.json())
        except (ValueError, KeyError, TypeError):
            raise IdentityUnavailable("Keystone's token body is not understood") from None
        if found.expired(_utcnow()):
            raise InvalidToken()
        self.cache.put(token, found)
        return found
