"""On SQLite one list page is read at a time per process (ostia/api/collection.py, the
sqlite3 module hands the GIL over at every row); a read that cannot get its turn in time
goes on without it, so one stuck read never stops every other list."""

from __future__ import annotations

import time

from ostia.api import collection
from tests.support.objects import check, create_lb


def test_a_list_goes_on_when_another_read_holds_its_turn(client, monkeypatch):
    created = create_lb(client, name="held")
    monkeypatch.setattr(collection, "PAGE_READ_WAIT", 0.3)
    assert collection._SQLITE_PAGE_READ.acquire(timeout=5)  # a read that never ends
    try:
        started = time.monotonic()
        listed = check(client.get("/v2/lbaas/loadbalancers"), 200)["loadbalancers"]
        waited = time.monotonic() - started
    finally:
        collection._SQLITE_PAGE_READ.release()
    assert [lb["id"] for lb in listed] == [created["id"]]
    assert 0.3 <= waited < 10, waited


def test_the_turn_is_given_back_after_each_read(client, monkeypatch):
    create_lb(client, name="a")
    first = check(client.get("/v2/lbaas/loadbalancers"), 200)

    def broken(*_args: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(collection.row_objects.Page, "read", broken)
    assert client.get("/v2/lbaas/loadbalancers").status_code == 500
    monkeypatch.undo()
    assert collection._SQLITE_PAGE_READ.acquire(timeout=0), "a failed read kept its turn"
    collection._SQLITE_PAGE_READ.release()
    assert check(client.get("/v2/lbaas/loadbalancers"), 200) == first
