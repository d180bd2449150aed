"""What a request handler needs, gathered once per app: config, database, drivers."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

from fastapi import Request
from oslo_config import cfg

from ostia.api.context import RequestContext
from ostia.api.providers import ProviderRegistry
from ostia.db.session import Database
from ostia.drivers.certs.base import CertManager
from ostia.drivers.loader import load_driver
from ostia.drivers.network.base import NetworkDriver


@dataclasses.dataclass
class Services:
    conf: cfg.ConfigOpts
    db: Database
    providers: ProviderRegistry
    network: NetworkDriver
    cert_manager: CertManager | None = None

    @classmethod
    def build(cls, conf: cfg.ConfigOpts, db: Database, wake: Callable[[str], None] | None = None) -> Services:
        network = load_driver("octavia.network.drivers", conf.controller_worker.network_driver, conf)
        cert_manager = load_driver("octavia.cert_manager", conf.certificates.cert_manager, conf)
        return cls(
            conf=conf,
            db=db,
            providers=ProviderRegistry(conf, db, wake),
            network=network,
            cert_manager=cert_manager,
        )


@dataclasses.dataclass(frozen=True)
class Call:
    """One API call's view: the services, the caller and the request."""

    services: Services
    context: RequestContext
    request: Request
    read_only: bool = False

    @functools.cached_property
    def url(self) -> str:
        """The request's URL without its query string: the base of a list's links (worked
        out only for the calls that answer links)."""
        base = self.conf.api_settings.api_base_uri
        return (base.rstrip("/") + self.request.url.path) if base else str(self.request.url).split("?")[0]

    @property
    def conf(self) -> cfg.ConfigOpts:
        return self.services.conf

    @property
    def db(self) -> Database:
        """A GET reads without waiting for the database's write lock (ostia.db.session)."""
        return self.services.db.read_only() if self.read_only else self.services.db


def call_of(request: Request, context: RequestContext) -> Call:
    """The call `request` makes as `context` (its caller, after the policy check)."""
    return Call(
        services=request.app.state.services,
        context=context,
        request=request,
        read_only=request.method in ("GET", "HEAD"),
    )
