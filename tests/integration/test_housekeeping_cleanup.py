"""Housekeeping DB cleanup on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime

import pytest

from ostia.controller.housekeeping.cleanup import run_cleanup
from ostia.db import migration, models
from ostia.db.session import Database, create_db_engine
from tests.support.live_api import test_config


@pytest.fixture
def db(db_url):
    database = Database(create_db_engine(db_url))
    migration.upgrade(database.engine)
    yield database
    database.dispose()


def _ago(seconds):
    return models.utcnow() - datetime.timedelta(seconds=seconds)


def test_only_expired_deleted_rows_are_purged(db):
    conf = test_config(
        str(db.engine.url), {"house_keeping": {"amphora_expiry_age": 3600, "load_balancer_expiry_age": 3600}}
    )
    with db.transaction() as session:
        old_lb = models.LoadBalancer(
            provisioning_status="DELETED", operating_status="OFFLINE", updated_at=_ago(7200)
        )
        old_lb.vip = models.Vip(ip_address="127.0.100.9")
        new_lb = models.LoadBalancer(
            provisioning_status="DELETED", operating_status="OFFLINE", updated_at=_ago(60)
        )
        live_lb = models.LoadBalancer(
            provisioning_status="ACTIVE", operating_status="ONLINE", updated_at=_ago(99999)
        )
        session.add_all([old_lb, new_lb, live_lb])
        session.flush()
        old_amp = models.Amphora(status="DELETED", updated_at=_ago(7200), load_balancer_id=old_lb.id)
        zombie = models.Amphora(status="DELETED", updated_at=_ago(7200))
        fresh_amp = models.Amphora(status="DELETED", updated_at=_ago(60))
        live_amp = models.Amphora(status="ALLOCATED", updated_at=_ago(99999))
        session.add_all([old_amp, zombie, fresh_amp, live_amp])
        session.flush()
        session.add(models.AmphoraHealth(amphora_id=zombie.id, last_update=_ago(5)))
        session.add(models.AmphoraHealth(amphora_id=old_amp.id, last_update=_ago(7200)))
        ids = {
            name: obj.id
            for name, obj in locals().items()
            if isinstance(obj, (models.LoadBalancer, models.Amphora))
        }
    assert run_cleanup(db, conf) == (1, 1)
    with db.transaction() as session:
        assert session.get(models.LoadBalancer, ids["old_lb"]) is None
        assert session.get(models.Vip, ids["old_lb"]) is None
        for name in ("new_lb", "live_lb"):
            assert session.get(models.LoadBalancer, ids[name]) is not None
        assert session.get(models.Amphora, ids["old_amp"]) is None
        assert session.get(models.AmphoraHealth, ids["old_amp"]) is None
        for name in ("zombie", "fresh_amp", "live_amp"):
            assert session.get(models.Amphora, ids[name]) is not None
    assert run_cleanup(db, conf) == (0, 0)


def test_statistics_outlive_purged_amphorae_without_their_connections(db):
    conf = test_config(str(db.engine.url), {"house_keeping": {"amphora_expiry_age": 3600}})
    with db.transaction() as session:
        dead = models.Amphora(status="DELETED", updated_at=_ago(7200))
        live = models.Amphora(status="ALLOCATED")
        session.add_all([dead, live])
        session.flush()
        for amp in (dead, live):
            session.add(
                models.ListenerStatistics(
                    listener_id="l1",
                    amphora_id=amp.id,
                    bytes_in=100,
                    bytes_out=200,
                    active_connections=7,
                    total_connections=9,
                    request_errors=1,
                )
            )
        ids = (dead.id, live.id)
    assert run_cleanup(db, conf) == (1, 0)
    with db.transaction() as session:
        assert session.get(models.Amphora, ids[0]) is None
        dead_stats = session.get(models.ListenerStatistics, ("l1", ids[0]))
        live_stats = session.get(models.ListenerStatistics, ("l1", ids[1]))
        assert (dead_stats.bytes_in, dead_stats.active_connections) == (100, 0)
        assert live_stats.active_connections == 7
