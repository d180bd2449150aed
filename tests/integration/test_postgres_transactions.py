"""Transactions in few round trips on PostgreSQL (ostia.db.postgres_transactions): after
the connections are lost under a serving API (backends terminated, the server restarted)
a client's next calls succeed; nothing half-done is committed or sent twice; a reader
cannot write; a write sent later commits with the transaction or not at all."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg2
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ostia.common.config import new_config
from ostia.db import migration, models, postgres_transactions
from ostia.db.session import SEND_LATER, Database, create_db_engine, engine_from_config
from tests.support.live_api import LiveAPI, running_api
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.postgres

LBS = "/v2/lbaas/loadbalancers"


def _admin(url: str) -> psycopg2.extensions.connection:
    """A connection of the test's own to the server's `postgres` database."""
    parsed = make_url(url)
    connection = psycopg2.connect(host=parsed.host, port=parsed.port, user="postgres", dbname="postgres")
    connection.autocommit = True
    return connection


def _backends(url: str) -> set[int]:
    with _admin(url) as admin, admin.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (make_url(url).database,))
        pids = {row[0] for row in cursor.fetchall()}
    admin.close()
    return pids


def _terminate_backends(url: str) -> set[int]:
    """Terminate every server process serving `url`'s database, as an operator's
    pg_terminate_backend or a crash would, and wait until they are gone."""
    victims = _backends(url)
    with _admin(url) as admin, admin.cursor() as cursor:
        for pid in victims:
            cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
    admin.close()
    deadline = time.monotonic() + 10
    while _backends(url) & victims:
        assert time.monotonic() < deadline, "the backends did not exit"
        time.sleep(0.05)
    return victims


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    return postgres.create_database(f"reconnect_{time.monotonic_ns()}")


@pytest.fixture
def api(pg_url: str) -> Iterator[LiveAPI]:
    with running_api(pg_url) as live:
        yield live


def _fill_the_pool(api: LiveAPI, lb_id: str) -> None:
    """Sixteen GETs at once, so that several pooled connections are open and idle."""

    def get(_: int) -> int:
        with api.client() as http:
            return http.get(f"{LBS}/{lb_id}").status_code

    with ThreadPoolExecutor(16) as threads:
        assert set(threads.map(get, range(48))) == {200}


def _create(http: httpx.Client) -> str:
    created = http.post(LBS, json={"loadbalancer": {"vip_subnet_id": "private-subnet"}})
    assert created.status_code == 201, created.text
    return str(created.json()["loadbalancer"]["id"])


def _every_call_succeeds(http: httpx.Client, lb_id: str) -> None:
    shown = http.get(f"{LBS}/{lb_id}")
    assert shown.status_code == 200, shown.text
    assert shown.json()["loadbalancer"]["provisioning_status"] == "ACTIVE"
    renamed = http.put(f"{LBS}/{lb_id}", json={"loadbalancer": {"name": "after"}})
    assert renamed.status_code == 200, renamed.text
    deleted = http.delete(f"{LBS}/{_create(http)}")
    assert deleted.status_code == 204, deleted.text
    assert http.get(f"{LBS}/{lb_id}").json()["loadbalancer"]["name"] == "after"


def test_after_the_backends_are_terminated_a_clients_next_calls_succeed(api: LiveAPI, pg_url: str):
    with api.client() as http:
        lb_id = _create(http)
        _fill_the_pool(api, lb_id)
        victims = _terminate_backends(pg_url)
        assert len(victims) >= 2  # several pooled connections were open
        _every_call_succeeds(http, lb_id)
        # Sixteen at once on a pool whose other connections are dead too.
        _terminate_backends(pg_url)
        _fill_the_pool(api, lb_id)
    assert not _backends(pg_url) & victims


def test_after_a_server_restart_a_clients_next_calls_succeed(
    api: LiveAPI, pg_url: str, postgres: PostgresServer
):
    with api.client() as http:
        lb_id = _create(http)
        _fill_the_pool(api, lb_id)
        postgres.stop_server()
        try:
            # While the server is down the API answers, with an error, and recovers after.
            assert http.get(f"{LBS}/{lb_id}").status_code >= 500
        finally:
            postgres.start_server()
        _every_call_succeeds(http, lb_id)
        postgres.stop_server()
        postgres.start_server()
        _every_call_succeeds(http, lb_id)
        _fill_the_pool(api, lb_id)


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    database = Database(create_db_engine(pg_url))
    migration.upgrade(database.engine)
    yield database
    database.dispose()


def _names(db: Database) -> list[str]:
    with db.reading() as connection:
        return list(connection.scalars(sa.select(models.Tag.tag).order_by(models.Tag.tag)))


def _tag(name: str) -> models.Tag:
    """A row of the simplest table: a tag; (resource, tag) is its primary key."""
    return models.Tag(resource_id="r", tag=name)


def test_a_transaction_cut_after_its_first_statement_is_not_sent_again(db: Database, pg_url: str):
    # Its first statement reached the server, so it is not retried: the caller gets the
    # error and nothing of the transaction is committed.
    with pytest.raises(sa.exc.OperationalError):
        with db.transaction() as session:
            session.add(_tag("first"))
            session.flush()
            _terminate_backends(pg_url)
            session.add(_tag("second"))
            session.flush()
    assert _names(db) == []
    with db.transaction() as session:
        session.add(_tag("third"))
    assert _names(db) == ["third"]


def test_transactions_commit_and_roll_back_whole(db: Database):
    with pytest.raises(RuntimeError):
        with db.transaction() as session:
            session.add(_tag("rolled back"))
            session.flush()
            raise RuntimeError("the caller fails")
    with pytest.raises(sa.exc.IntegrityError):
        with db.transaction() as session:
            session.add(_tag("twice"))
            session.flush()
            session.add(_tag("twice"))  # the same primary key
            session.flush()
    with db.transaction() as session:
        session.add_all([_tag("a"), _tag("b")])
    # An empty transaction, and a write after a failed one on the same pooled connection.
    with db.transaction():
        pass
    with db.transaction() as session:
        session.add(_tag("c"))
    assert _names(db) == ["a", "b", "c"]


def test_a_reader_sees_committed_rows_and_refuses_to_write(db: Database):
    with db.transaction() as session:
        session.add(_tag("kept"))
    with pytest.raises(sa.exc.InternalError, match="read-only"):
        with db.read_only().transaction() as session:
            session.add(_tag("through the reader"))
            session.flush()
    with pytest.raises(sa.exc.InternalError, match="read-only"):
        with db.reading() as connection:
            connection.execute(sa.delete(models.Tag))
    assert _names(db) == ["kept"]


def test_a_driver_cursor_read_after_the_backends_are_terminated_succeeds(db: Database, pg_url: str):
    # The health manager reads its amphorae's stamps this way, first in its transaction.
    with db.transaction() as session:
        session.add(_tag("kept"))
    _terminate_backends(pg_url)
    with db.transaction() as session:
        rows = postgres_transactions.fetch_all(
            session.connection(), "SELECT tag FROM tags WHERE resource_id = %(resource)s", {"resource": "r"}
        )
        session.add(_tag("after"))
    assert rows == [("kept",)]
    assert _names(db) == ["after", "kept"]


def _insert_later(connection: sa.Connection, tag: str) -> None:
    connection.execute(sa.insert(models.Tag), {"resource_id": "r", "tag": tag}, execution_options=SEND_LATER)


def test_a_write_sent_later_is_committed_with_the_commit_or_not_at_all(db: Database):
    with db.transaction() as session:
        _insert_later(session.connection(), "100% sure")  # psycopg2's placeholder mark
        session.connection().execute(sa.select(1))  # it goes with this statement
        _insert_later(session.connection(), "with the commit")
    with pytest.raises(RuntimeError):
        with db.transaction() as session:
            _insert_later(session.connection(), "rolled back")
            raise RuntimeError("the caller fails")
    assert _names(db) == ["100% sure", "with the commit"]


def test_an_error_of_a_write_sent_later_is_raised_by_the_commit_and_commits_nothing(db: Database):
    with pytest.raises(sa.exc.IntegrityError):
        with db.transaction() as session:
            _insert_later(session.connection(), "twice")
            _insert_later(session.connection(), "twice")  # the same primary key
    with pytest.raises(sa.exc.IntegrityError):
        with db.transaction() as session:
            session.add(_tag("alone"))
            session.flush()
            _insert_later(session.connection(), "alone")
            session.connection().execute(sa.select(1))
    assert _names(db) == []


def test_sixteen_requests_at_once_keep_their_database_connections(pg_url: str):
    """At the default `[database] max_pool_size`, sixteen requests at once (the API's
    usual concurrency) reuse the connections they opened: a pool smaller than that closes
    the connections above it when they are returned and opens new ones (a PostgreSQL
    server process forked per request, which was the API's p99 tail at concurrency 16)."""
    conf = new_config()
    conf([], default_config_files=[])
    conf.set_override("connection", pg_url, group="database")
    engine = engine_from_config(conf)
    barrier = threading.Barrier(16)

    def backend_pid(_: int) -> int:
        with engine.connect() as connection:
            barrier.wait(timeout=30)  # all sixteen hold a connection at once
            return int(connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())

    try:
        with ThreadPoolExecutor(16) as threads:
            rounds = [set(threads.map(backend_pid, range(16))) for _ in range(3)]
    finally:
        engine.dispose()
    assert len(rounds[0]) == 16
    assert rounds[1] == rounds[0] and rounds[2] == rounds[0], "connections were closed and reopened"
