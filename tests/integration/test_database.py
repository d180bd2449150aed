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


_SETTLED_COLUMNS = (
    "provisioning_status",
    "operating_status",
    "lease_owner",
    "lease_expires",
    "reconcile_attempts",
    "last_error",
)


@pytest.mark.parametrize(
    "status_value", ["PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE", "ERROR", "ACTIVE", "DELETED"]
)
def test_settling_a_childless_lb_in_one_update_is_the_same_as_settling_its_objects(db, status_value):
    import datetime

    def worn_lb(session):  # type: ignore[no-untyped-def]
        lb = _lb(session, status_value, lease_owner="worker-1", reconcile_attempts=3, last_error="refused")
        lb.operating_status, lb.lease_expires = "ONLINE", datetime.datetime(2030, 1, 1)
        session.flush()
        return lb.id

    with db.transaction() as session:
        by_objects, by_row = worn_lb(session), worn_lb(session)
    with db.transaction() as session:
        lifecycle.settle_load_balancer(session, session.get(models.LoadBalancer, by_objects))
        assert lifecycle.settle_childless_load_balancer(session, by_row)
    with db.transaction() as session:
        settled = [session.get(models.LoadBalancer, ident) for ident in (by_objects, by_row)]
        assert [[getattr(lb, name) for name in _SETTLED_COLUMNS] for lb in settled] == [
            [getattr(settled[0], name) for name in _SETTLED_COLUMNS]
        ] * 2
        assert (settled[0].updated_at is None) == (settled[1].updated_at is None)
    if status_value == "PENDING_DELETE":
        return  # a load balancer being inserted is never being deleted
    # A load balancer stored settled at once by a create: the same columns.
    row = {
        "provisioning_status": status_value,
        "operating_status": "ONLINE",
        "lease_owner": "worker-1",
        "lease_expires": datetime.datetime(2030, 1, 1),
        "reconcile_attempts": 3,
        "last_error": "refused",
    }
    lifecycle.settle_new_load_balancer(row)
    expected = [getattr(settled[0], name) for name in _SETTLED_COLUMNS]
    assert [row[name] for name in _SETTLED_COLUMNS] == expected


@pytest.mark.parametrize("status_value", ["ACTIVE", "ERROR", "PENDING_UPDATE", "PENDING_CREATE", "DELETED"])
@pytest.mark.parametrize(
    ("allowed", "target"),
    [(lifecycle.UPDATE_FROM, "PENDING_UPDATE"), (lifecycle.DELETE_FROM, "PENDING_DELETE")],
)
def test_a_move_and_its_settle_in_one_update_are_the_two_steps(db, status_value, allowed, target):
    with db.transaction() as session:
        lb = _lb(session, status_value, lease_owner="worker-1", reconcile_attempts=3, last_error="refused")
        two_steps = lb.id
        one_step = _lb(session, status_value, lease_owner="worker-1", reconcile_attempts=3, last_error="x").id
    with db.transaction() as session:
        moved = lifecycle.move_load_balancer(session, two_steps, allowed, target)
        if moved:
            lifecycle.settle_load_balancer(session, session.get(models.LoadBalancer, two_steps))
        # Refused (busy or gone) exactly when the move alone is refused, and then untouched.
        assert lifecycle.begin_and_settle(session, one_step, allowed, target) == moved
    with db.transaction() as session:
        results = [session.get(models.LoadBalancer, ident) for ident in (two_steps, one_step)]
        columns = [[getattr(lb, name) for name in _SETTLED_COLUMNS] for lb in results]
        if moved:
            assert columns[0] == columns[1]
        else:
            assert columns[1][0] == status_value and columns[1][4] == 3


def test_a_lb_with_a_listener_is_not_settled_in_one_update(db):
    with db.transaction() as session:
        lb = _lb(session, "PENDING_UPDATE")
        session.add(
            models.Listener(
                protocol="HTTP",
                protocol_port=80,
                load_balancer_id=lb.id,
                provisioning_status="PENDING_CREATE",
                operating_status="OFFLINE",
            )
        )
        lb_id = lb.id
    with db.transaction() as session:
        assert not lifecycle.settle_childless_load_balancer(session, lb_id)
    with db.transaction() as session:
        assert session.get(models.LoadBalancer, lb_id).provisioning_status == "PENDING_UPDATE"


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
