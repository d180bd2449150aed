"""SQLite: GETs read beside a writer, a write through the reader fails, writers queue in order."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy.exc
from sqlalchemy import func, select

from ostia.db import migration, models
from ostia.db.session import Database, create_db_engine


@pytest.fixture
def db(tmp_path):
    database = Database(create_db_engine(f"sqlite:///{tmp_path}/o.db"))
    migration.upgrade(database.engine)
    yield database
    database.dispose()


def _add_lb(session, name: str) -> None:  # type: ignore[no-untyped-def]
    session.add(
        models.LoadBalancer(
            name=name, project_id="p", provisioning_status="ACTIVE", operating_status="ONLINE"
        )
    )


def test_a_reader_answers_while_a_writer_holds_the_write_lock(db):
    with db.transaction() as session:
        _add_lb(session, "before")
    holding, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with db.transaction() as session:
            _add_lb(session, "during")
            session.flush()  # BEGIN IMMEDIATE: the write lock is taken
            holding.set()
            release.wait(10)

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        with db.read_only().transaction() as session:
            names = session.scalars(select(models.LoadBalancer.name)).all()
        assert names == ["before"]  # its snapshot, without waiting for the writer
        assert time.monotonic() - started < 1
    finally:
        release.set()
        writer.join(10)
    with db.read_only().transaction() as session:
        assert session.scalar(select(func.count()).select_from(models.LoadBalancer)) == 2


def test_a_write_through_the_reader_is_refused_and_writers_still_write(db):
    with pytest.raises(sqlalchemy.exc.OperationalError, match="readonly"):
        with db.read_only().transaction() as session:
            _add_lb(session, "sneaky")
    with db.transaction() as session:  # the same pooled connection, writable again
        _add_lb(session, "fine")
    with db.read_only().transaction() as session:
        assert session.scalars(select(models.LoadBalancer.name)).all() == ["fine"]


def test_sixteen_concurrent_writers_all_commit(db):
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            for round_ in range(5):
                with db.transaction() as session:
                    _add_lb(session, f"w{index}-{round_}")
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with db.read_only().transaction() as session:
        assert session.scalar(select(func.count()).select_from(models.LoadBalancer)) == 80
