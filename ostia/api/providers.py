"""Loads the enabled provider drivers and connects their hooks to the database."""

from __future__ import annotations

import logging
from collections.abc import Callable

from oslo_config import cfg
from sqlalchemy.orm import Session

from ostia.common import exceptions as exc
from ostia.db import lifecycle, models
from ostia.db.session import Database
from ostia.drivers.loader import load_driver
from ostia.drivers.provider.base import ProviderDriver, ProviderHooks

LOG = logging.getLogger(__name__)


class ProviderRegistry:
    """The enabled providers by name, plus the wake-up path to the worker."""

    def __init__(self, conf: cfg.ConfigOpts, db: Database, wake: Callable[[str], None] | None = None) -> None:
        self.conf = conf
        self.db = db
        self.wake: Callable[[str], None] = wake or self._no_worker
        hooks = ProviderHooks(settle=self.settle, wake=lambda lb_id: self.wake(lb_id))
        self.descriptions: dict[str, str] = dict(conf.api_settings.enabled_provider_drivers)
        self.drivers: dict[str, ProviderDriver] = {}
        for name in self.descriptions:
            self.drivers[name] = load_driver("octavia.api.drivers", name, name, hooks)

    @property
    def default(self) -> str:
        return self.conf.api_settings.default_provider_driver

    def get(self, name: str | None) -> ProviderDriver:
        name = name or self.default
        driver = self.drivers.get(name)
        if driver is None:
            raise exc.ProviderNotEnabled(name)
        return driver

    def completes_on_store(self, provider: str | None) -> bool:
        """The provider's changes are complete once stored (noop): a create may store its
        load balancer settled at once (`lifecycle.settle_new_load_balancer`)."""
        return self.get(provider).complete_on_store

    def stored(self, session: Session, lb: models.LoadBalancer | str, provider: str | None) -> None:
        """Before commit, once the change under `lb` is in `session`: a provider whose
        changes are complete once stored (noop) has the graph settled in this same
        transaction, one transaction per write where there used to be two. The answer is
        made before, so it shows PENDING_* as upstream's does; a read after it sees ACTIVE.

        `lb` is the load balancer object when its loaded graph is current, else
        its id: one UPDATE settles a load balancer without listeners and pools; a graph is
        settled as the separate transaction did, loaded afresh (a child created in
        `session` may be missing from a list it loaded before), but on the same connection
        and transaction.
        """
        if not self.get(provider).complete_on_store:
            return
        if isinstance(lb, str):
            session.flush()
            if not lifecycle.settle_childless_load_balancer(session, lb):
                self._settle_afresh(session, lb)
            return
        lifecycle.settle_load_balancer(session, lb)

    @staticmethod
    def _settle_afresh(session: Session, lb_id: str) -> None:
        # A session of its own on the same connection: it sees what `session` wrote, and
        # the transaction stays the caller's to commit.
        with Session(bind=session.connection(), join_transaction_mode="rollback_only") as fresh:
            lb = fresh.get(models.LoadBalancer, lb_id)
            if lb is not None:
                lifecycle.settle_load_balancer(fresh, lb)
                fresh.flush()

    def notify(self, lb_id: str, provider: str | None) -> None:
        """Tell the LB's provider that its graph changed (after commit); nothing for a
        provider whose change `stored` settled."""
        try:
            driver = self.get(provider)
            if not driver.complete_on_store:
                driver.load_balancer_changed(lb_id)
        except exc.APIError:
            raise
        except Exception:  # the change is stored; the worker's sweep will pick it up
            LOG.exception("provider %s failed to take change of load balancer %s", provider, lb_id)

    def settle(self, lb_id: str) -> None:
        with self.db.transaction() as session:
            lb = session.get(models.LoadBalancer, lb_id)
            if lb is not None:
                lifecycle.settle_load_balancer(session, lb)

    @staticmethod
    def _no_worker(lb_id: str) -> None:
        LOG.debug("no in-process worker; load balancer %s waits for a worker's sweep", lb_id)
