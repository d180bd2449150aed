"""Worker test doubles: noop drivers that count calls, a database with a stored LB graph.

with worker_env(db_url) as env:
    lb_id = env.store_lb(listener_port=8080, members=2)
    env.reconciler().reconcile(lb_id)
    assert env.compute.calls["build"] == 1
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import os
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

from oslo_config import cfg

from ostia.common import constants as c
from ostia.controller.worker.drivers import WorkerDrivers
from ostia.controller.worker.reconciler import Reconciler
from ostia.db import lifecycle, migration, models
from ostia.db.session import Database, create_db_engine
from ostia.drivers.amphora.noop_driver import NoopAmphoraDriver
from ostia.drivers.certs.base import AmphoraCertificate, CertGenerator
from ostia.drivers.certs.noop_manager import NoopCertManager
from ostia.drivers.compute.base import AmphoraSpec, ComputeInstance
from ostia.drivers.compute.noop_driver import NoopComputeDriver
from ostia.drivers.network.local_driver import LocalNetworkDriver, stable_id
from tests.support.live_api import migrated_sqlite, test_config

PRIVATE_SUBNET = stable_id("subnet", "private-subnet")


class CountingCompute(NoopComputeDriver):
    """The noop compute driver, counting calls; `fail_builds` makes the next builds fail."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        super().__init__(conf)
        self.calls: collections.Counter[str] = collections.Counter()
        self.fail_builds = 0
        self.specs: list[AmphoraSpec] = []
        self._count_lock = threading.Lock()

    def _count(self, name: str) -> None:
        with self._count_lock:
            self.calls[name] += 1

    def build(self, spec: AmphoraSpec) -> ComputeInstance:
        self._count("build")
        with self._count_lock:
            if self.fail_builds:
                self.fail_builds -= 1
                raise RuntimeError("compute build failed (test)")
            self.specs.append(spec)
        return super().build(spec)

    def get(self, compute_id: str) -> ComputeInstance | None:
        self._count("get")
        return super().get(compute_id)

    def delete(self, compute_id: str) -> None:
        self._count("delete")
        super().delete(compute_id)

    def list_instances(self) -> list[ComputeInstance]:
        self._count("list_instances")
        return super().list_instances()

    def kill(self, compute_id: str) -> None:
        """Make an instance look dead (its agent process gone)."""
        with self._lock:
            old = self._instances[compute_id]
            self._instances[compute_id] = ComputeInstance(
                old.compute_id, old.amphora_id, old.lb_network_ip, "SHUTOFF"
            )


class FakeCertGenerator(CertGenerator):
    def __init__(self) -> None:
        self.generated: list[str] = []

    def generate_amphora_cert(self, amphora_id: str) -> AmphoraCertificate:
        self.generated.append(amphora_id)
        return AmphoraCertificate(
            certificate=b"-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n",
            private_key=b"-----BEGIN PRIVATE KEY-----\nfake\n-----END PRIVATE KEY-----\n",
            expiration=datetime.datetime(2099, 1, 1, tzinfo=datetime.UTC),
        )


class WorkerEnv:
    def __init__(self, conf: cfg.ConfigOpts, db: Database) -> None:
        self.conf = conf
        self.db = db
        self.compute = CountingCompute(conf)
        self.amphora = NoopAmphoraDriver(conf)
        self.certs = FakeCertGenerator()
        self.drivers = WorkerDrivers(
            compute=self.compute,
            network=LocalNetworkDriver(conf),
            amphora=self.amphora,
            cert_generator=self.certs,
            cert_manager=NoopCertManager(conf),
        )

    def reconciler(self, owner: str | None = None) -> Reconciler:
        return Reconciler(self.conf, self.db, self.drivers, owner)

    def amphora_calls(self, method: str) -> int:
        return len(self.amphora.calls_named(method))

    def reset_counts(self) -> None:
        self.compute.calls.clear()
        with self.amphora._lock:
            self.amphora.calls.clear()

    # -- stored graphs -------------------------------------------------------------------

    def store_lb(
        self,
        *,
        listener_port: int | None = 8080,
        members: int = 2,
        vip: str = "127.0.100.10",
        status: str = c.PENDING_CREATE,
        topology: str = c.TOPOLOGY_SINGLE,
    ) -> str:
        """An LB (and optionally listener, pool, members) as the API stores a create."""
        with self.db.transaction() as session:
            lb = models.LoadBalancer(
                project_id="p1",
                provisioning_status=status,
                operating_status=c.OFFLINE,
                topology=topology,
                provider="amphora",
                enabled=True,
            )
            lb.vip = models.Vip(ip_address=vip, subnet_id=PRIVATE_SUBNET)
            session.add(lb)
            session.flush()
            if listener_port is not None:
                listener = models.Listener(
                    project_id="p1",
                    protocol=c.HTTP,
                    protocol_port=listener_port,
                    load_balancer_id=lb.id,
                    provisioning_status=status,
                    operating_status=c.OFFLINE,
                    connection_limit=-1,
                    enabled=True,
                )
                pool = models.Pool(
                    project_id="p1",
                    protocol=c.HTTP,
                    lb_algorithm=c.ROUND_ROBIN,
                    load_balancer_id=lb.id,
                    provisioning_status=status,
                    operating_status=c.OFFLINE,
                    enabled=True,
                )
                session.add_all([listener, pool])
                session.flush()
                listener.default_pool_id = pool.id
                for index in range(members):
                    session.add(
                        models.Member(
                            project_id="p1",
                            pool_id=pool.id,
                            ip_address="127.0.0.1",
                            protocol_port=9000 + index,
                            provisioning_status=status,
                            operating_status=c.OFFLINE,
                            enabled=True,
                            weight=1,
                        )
                    )
            return lb.id

    def lb(self, lb_id: str) -> models.LoadBalancer:
        with self.db.transaction() as session:
            lb = session.get(models.LoadBalancer, lb_id)
            assert lb is not None
            _ = lb.listeners, lb.pools, [p.members for p in lb.pools]
            return lb

    def amphorae(self, lb_id: str | None = None) -> list[models.Amphora]:
        with self.db.transaction() as session:
            query = session.query(models.Amphora)
            if lb_id is not None:
                query = query.filter(models.Amphora.load_balancer_id == lb_id)
            return list(query.order_by(models.Amphora.created_at))

    def set_status(self, lb_id: str, status: str) -> None:
        """What the API's lock does: a new PENDING_* state with a fresh attempt count."""
        with self.db.transaction() as session:
            lb = session.get(models.LoadBalancer, lb_id)
            assert lb is not None
            lb.provisioning_status = status
            lb.reconcile_attempts = 0
            lb.last_error = None

    def request_failover(self, lb_id: str) -> bool:
        """The API's load balancer failover, in its own transaction."""
        with self.db.transaction() as session:
            return lifecycle.request_failover(session, lb_id)

    def update(self, model: type, ident: str, **values: Any) -> None:
        with self.db.transaction() as session:
            obj = session.get(model, ident)
            assert obj is not None
            for key, value in values.items():
                setattr(obj, key, value)


def worker_config(
    db_url: str, state_dir: str, overrides: dict[str, dict[str, Any]] | None = None
) -> cfg.ConfigOpts:
    """Fast retries, short leases, a client CA file: what worker tests want by default."""
    client_ca = os.path.join(state_dir, "client_ca.pem")
    with open(client_ca, "wb") as handle:
        handle.write(b"-----BEGIN CERTIFICATE-----\nfake-ca\n-----END CERTIFICATE-----\n")
    base: dict[str, dict[str, Any]] = {
        "reconciler": {
            "lease_seconds": 5,
            "sweep_interval": 0.2,
            "max_attempts": 3,
            "retry_initial_delay": 0.01,
            "retry_max_delay": 0.05,
        },
        "controller_worker": {"client_ca": client_ca},
        "task_flow": {"max_workers": 2},
        "ostia": {"state_dir": state_dir},
        "health_manager": {"heartbeat_key": "test-key", "controller_ip_port_list": ["127.0.0.1:5555"]},
    }
    for group, values in (overrides or {}).items():
        base.setdefault(group, {}).update(values)
    return test_config(db_url, base)


def migrated_database(db_url: str) -> Database:
    """A Database at the head revision; an empty SQLite file is copied from a template."""
    if db_url.startswith("sqlite:///"):
        path = db_url[len("sqlite:///") :]
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            migrated_sqlite(path)
    elif db_url.startswith("postgresql"):
        probe = create_db_engine(db_url)
        empty = migration.current_revision(probe) is None
        probe.dispose()
        if empty:
            _clone_postgres_template(db_url)
    db = Database(create_db_engine(db_url))
    if migration.current_revision(db.engine) is None:
        migration.upgrade(db.engine)
    return db


_PG_TEMPLATE = "ostia_worker_template"
_pg_templates: set[str] = set()


def _clone_postgres_template(db_url: str) -> None:
    """Replace the (empty) database of `db_url` by a copy of a migrated template: fast."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    server = url.set(database="postgres")
    key = server.render_as_string(hide_password=False)
    admin = create_db_engine(key).execution_options(isolation_level="AUTOCOMMIT")
    try:
        if key not in _pg_templates:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {_PG_TEMPLATE}"))
                conn.execute(text(f"CREATE DATABASE {_PG_TEMPLATE}"))
            template = create_db_engine(url.set(database=_PG_TEMPLATE).render_as_string(hide_password=False))
            migration.upgrade(template)
            template.dispose()
            _pg_templates.add(key)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}"'))
            conn.execute(text(f'CREATE DATABASE "{url.database}" TEMPLATE {_PG_TEMPLATE}'))
    finally:
        admin.dispose()


@contextlib.contextmanager
def worker_env(
    db_url: str,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> Iterator[WorkerEnv]:
    with tempfile.TemporaryDirectory(prefix="ostia-worker-") as state:
        conf = worker_config(db_url, state, overrides)
        db = migrated_database(db_url)
        try:
            yield WorkerEnv(conf, db)
        finally:
            db.dispose()
