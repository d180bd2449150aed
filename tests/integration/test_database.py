"""The database layer on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import inspect, select

from ostia.api import status
from ostia.common import exceptions as exc
from ostia.db import lifecycle, migration, models
from ostia.db.session import Database, create_db_engine


@pytest.fixture
def db(db_url):
    database = Database(create_db_engine(db_url))
    migration.upgrade(database.engine)
    yield database
    database.dispose()


def _lb(session, status_value="ACTIVE", **fields):
    lb = models.LoadBalancer(
        provisioning_status=status_value, operating_status="OFFLINE", project_id="p", **fields
    )
    lb.vip = models.Vip(ip_address="127.0.100.5", subnet_id="s")
    session.add(lb)
    session.flush()
    return lb


def test_upgrade_head_creates_every_table_and_reports_head(db):
    tables = set(inspect(db.engine).get_table_names())
    assert set(models.Base.metadata.tables) <= tables
    assert migration.current_revision(db.engine) == migration.head_revision()


def test_migrations_match_the_models(db):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, models.Base.metadata) == []


def test_upgrade_twice_is_harmless(db):
    migration.upgrade(db.engine)
    assert migration.current_revision(db.engine) == migration.head_revision()


def test_tags_are_stored_and_replaced(db):
    with db.transaction() as session:
        lb = _lb(session)
        lb.tags = ["a", "b", "a"]
        lb_id = lb.id
    with db.transaction() as session:
        lb = session.get(models.LoadBalancer, lb_id)
        assert lb.tags == ["a", "b"]
        lb.tags = ["c"]
    with db.transaction() as session:
        assert session.get(models.LoadBalancer, lb_id).tags == ["c"]
        assert session.scalars(select(models.Tag.tag)).all() == ["c"]


def test_lb_lock_admits_exactly_one_of_many_concurrent_writers(db):
    with db.transaction() as session:
        lb_id = _lb(session).id
    winners, losers = [], []
    barrier = threading.Barrier(8)

    def writer():
        barrier.wait()
        try:
            with db.transaction() as session:
                status.lock_for_child_change(session, lb_id)
            winners.append(1)
        except exc.ImmutableObject:
            losers.append(1)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(winners), len(losers)) == (1, 7)


def test_settle_activates_pending_and_removes_pending_delete(db):
    with db.transaction() as session:
        lb = _lb(session, "PENDING_UPDATE")
        keep = models.Listener(
            protocol="HTTP",
            protocol_port=80,
            load_balancer_id=lb.id,
            provisioning_status="PENDING_CREATE",
            operating_status="OFFLINE",
        )
        gone = models.Listener(
            protocol="TCP",
            protocol_port=81,
            load_balancer_id=lb.id,
            provisioning_status="PENDING_DELETE",
            operating_status="OFFLINE",
        )
        session.add_all([keep, gone])
        session.flush()
        lb_id, keep_id, gone_id = lb.id, keep.id, gone.id
    with db.transaction() as session:
        lifecycle.settle_load_balancer(session, session.get(models.LoadBalancer, lb_id))
    with db.transaction() as session:
        assert session.get(models.LoadBalancer, lb_id).provisioning_status == "ACTIVE"
        assert session.get(models.Listener, keep_id).provisioning_status == "ACTIVE"
        assert session.get(models.Listener, gone_id) is None


def test_deleting_a_load_balancer_tree_removes_children_and_keeps_a_deleted_row(db):
    with db.transaction() as session:
        lb = _lb(session, "PENDING_DELETE")
        pool = models.Pool(
            protocol="HTTP",
            lb_algorithm="ROUND_ROBIN",
            load_balancer_id=lb.id,
            provisioning_status="ACTIVE",
            operating_status="ONLINE",
        )
        session.add(pool)
        session.flush()
        session.add(
            models.Member(
                pool_id=pool.id,
                ip_address="127.0.0.1",
                protocol_port=80,
                provisioning_status="ACTIVE",
                operating_status="ONLINE",
            )
        )
        session.add(
            models.Listener(
                protocol="HTTP",
                protocol_port=80,
                load_balancer_id=lb.id,
                default_pool_id=pool.id,
                provisioning_status="ACTIVE",
                operating_status="ONLINE",
            )
        )
        lb_id = lb.id
    with db.transaction() as session:
        lifecycle.settle_load_balancer(session, session.get(models.LoadBalancer, lb_id))
    with db.transaction() as session:
        assert session.get(models.LoadBalancer, lb_id).provisioning_status == "DELETED"
        for model in (models.Listener, models.Pool, models.Member):
            assert session.scalars(select(model)).all() == []


def test_statistics_counters_hold_more_than_32_bits(db):
    big = 5 * 2**31
    with db.transaction() as session:
        session.add(
            models.ListenerStatistics(
                listener_id="l",
                amphora_id="a",
                bytes_in=big,
                bytes_out=big,
                total_connections=big,
                request_errors=1,
            )
        )
    with db.transaction() as session:
        row = session.get(models.ListenerStatistics, ("l", "a"))
        assert (row.bytes_in, row.bytes_out, row.total_connections) == (big, big, big)
