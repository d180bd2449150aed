"""A member POST, PUT and DELETE on rows (ostia/api/v2/member_rows.py) store and answer
what the ORM path stored and answered.

The ORM path (members.build after pools.lock_for_pool_child, as the create ran before and
a batch update still does) is run here beside the POST, each from the same statuses, on
a graph where the pool is a listener's default pool and another listener's L7 redirect
(that listener in ERROR), has a monitor, and a third listener and pool stand apart; on
SQLite and PostgreSQL. Compared: the answer field for field (but id and created_at), the
member's row and tags, and every status and updated_at the change moves or leaves. A PUT
or DELETE runs on one of two twin members, the ORM path on the other.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select, update

from ostia.api import types
from ostia.api.routes import JSONResponse
from ostia.api.v2 import members, pools
from ostia.common import constants as c
from ostia.db import models
from tests.support.databases import BOTH_DATABASES, fresh_database
from tests.support.live_api import LiveAPI, running_api
from tests.support.objects import (
    check,
    create_healthmonitor,
    create_held_lb,
    create_l7policy,
    create_listener,
    create_pool,
    fault,
    settle,
)

MOVED = (models.LoadBalancer, models.Listener, models.Pool)


@pytest.fixture(scope="module", params=BOTH_DATABASES)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAPI]:
    with running_api(fresh_database(request, tmp_path_factory, "members")) as api:
        yield api


@pytest.fixture(scope="module")
def graph(live: LiveAPI) -> dict[str, str]:
    with live.client() as client:
        lb = create_held_lb(live, client)["id"]
        web = create_listener(client, lb, port=80)["id"]
        settle(live, lb)
        pool = create_pool(client, listener_id=web)["id"]
        settle(live, lb)
        redirecting = create_listener(client, lb, port=81)["id"]
        settle(live, lb)
        create_l7policy(client, redirecting, action="REDIRECT_TO_POOL", redirect_pool_id=pool)
        settle(live, lb)
        apart = create_listener(client, lb, port=82)["id"]
        settle(live, lb)
        other_pool = create_pool(client, listener_id=apart)["id"]
        settle(live, lb)
        create_healthmonitor(client, pool)
        settle(live, lb)
    return {"lb": lb, "pool": pool, "redirecting": redirecting, "other_pool": other_pool}


def _reset(live: LiveAPI, graph: dict[str, str]) -> None:
    """Everything ACTIVE with no updated_at, but the redirecting listener in ERROR."""
    with live.db.transaction() as session:
        for model in MOVED:
            session.execute(update(model).values(provisioning_status=c.ACTIVE, updated_at=None))
        session.execute(
            update(models.Listener)
            .where(models.Listener.id == graph["redirecting"])
            .values(provisioning_status=c.ERROR, updated_at=None)
        )


def _state(live: LiveAPI, member_id: str) -> dict[str, Any]:
    """Statuses (and whether updated_at was set) of everything, the member's row and tags."""
    with live.db.transaction() as session:
        moved = {
            row.id: (row.provisioning_status, row.updated_at is not None)
            for model in MOVED
            for row in session.execute(select(model.id, model.provisioning_status, model.updated_at))
        }
        member = session.get(models.Member, member_id)
        assert member is not None
        columns = {
            column.key: getattr(member, column.key)
            for column in models.Member.__table__.columns
            if column.key not in ("id", "created_at", "ip_address")
        }
        columns["updated_at"] = member.updated_at is not None
        return {"moved": moved, "member": columns, "tags": member.tags}


def _orm_create(live: LiveAPI, pool_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The create as it ran before member_rows: ORM objects throughout."""
    call = SimpleNamespace(conf=live.conf, services=live.app.state.services)
    body = types.parse(members.MemberCreate, raw)
    subnet_id = members.resolve_subnet(call, body.subnet_id)  # type: ignore[arg-type]
    with live.db.transaction() as session:
        pool = session.get(models.Pool, pool_id)
        assert pool is not None
        lb = pools.load_balancer_of(pool)
        pools.lock_for_pool_child(session, pool, lb)
        member = members.build(call, session, pool, lb, body, subnet_id)  # type: ignore[arg-type]
        session.flush()
        return dict(json.loads(JSONResponse(members.serialize(member)).body))


def _orm_change(live: LiveAPI, pool_id: str, member_id: str, raw: dict[str, Any] | None) -> dict[str, Any]:
    """The update (`raw`) or delete (None) as they ran before member_rows."""
    with live.db.transaction() as session:
        pool = session.get(models.Pool, pool_id)
        member = session.get(models.Member, member_id)
        assert pool is not None and member is not None
        lb = pools.load_balancer_of(pool)
        pools.lock_for_pool_child(session, pool, lb, repair=True)
        if raw is None:
            member.provisioning_status = c.PENDING_DELETE
            return {}
        members.apply(member, members._changes(types.parse(members.MemberUpdate, raw).sent()))
        member.provisioning_status = c.PENDING_UPDATE
        session.flush()
        return dict(json.loads(JSONResponse(members.serialize(member)).body))


def _twins(live: LiveAPI, graph: dict[str, str]) -> tuple[str, str]:
    """Two members alike but for their address, ACTIVE, updated_at unset."""
    url = f"/v2/lbaas/pools/{graph['pool']}/members"
    body = {"protocol_port": 90, "name": "twin", "weight": 3, "tags": ["t2", "t1"], "monitor_port": 7}
    ids = []
    with live.client() as client:
        for _ in range(2):
            _reset(live, graph)
            created = check(client.post(url, json={"member": {**body, "address": next(_addresses)}}), 201)
            ids.append(created["member"]["id"])
    with live.db.transaction() as session:
        session.execute(update(models.Member).values(provisioning_status=c.ACTIVE, updated_at=None))
    return ids[0], ids[1]


UPDATES = {
    "values and tags": {
        "weight": 5,
        "name": "renamed",
        "tags": ["b", "a", "b"],
        "monitor_address": "192.0.2.7",
    },
    "nulls restore defaults": {
        "weight": None,
        "backup": None,
        "admin_state_up": None,
        "tags": None,
        "name": None,
    },
    "admin down": {"admin_state_up": False},
    "nothing but the status": {"name": "twin", "weight": 3},
    "an empty body": {},
}


@pytest.mark.parametrize("change", [*UPDATES, "delete", "repair from ERROR"])
def test_put_and_delete_store_and_answer_what_the_orm_path_did(live, graph, change):
    rows_member, orm_member = _twins(live, graph)
    raw = UPDATES.get(change, {"weight": 9})
    url = f"/v2/lbaas/pools/{graph['pool']}/members/{rows_member}"

    def start() -> None:
        _reset(live, graph)
        if change == "repair from ERROR":
            with live.db.transaction() as session:
                for model in (models.LoadBalancer, models.Pool, models.Member):
                    session.execute(update(model).values(provisioning_status=c.ERROR, updated_at=None))

    start()
    with live.client() as client:
        if change == "delete":
            check(client.delete(url), 204)
            rows_answer: dict[str, Any] = {}
        else:
            rows_answer = check(client.put(url, json={"member": raw}), 200)["member"]
    rows_state = _state(live, rows_member)
    start()
    orm_answer = _orm_change(live, graph["pool"], orm_member, None if change == "delete" else raw)
    orm_state = _state(live, orm_member)

    def same(answer: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in answer.items() if k not in ("id", "created_at", "address", "updated_at")}
        return {**kept, "updated": answer.get("updated_at") is not None}

    assert same(rows_answer) == same(orm_answer)
    assert rows_state == orm_state
    assert rows_state["member"]["provisioning_status"] == (
        c.PENDING_DELETE if change == "delete" else c.PENDING_UPDATE
    )
    assert rows_state["moved"][graph["lb"]] == (c.PENDING_UPDATE, True)


def test_put_and_delete_refusals(live, graph):
    member, other = _twins(live, graph)
    _reset(live, graph)
    url = f"/v2/lbaas/pools/{graph['pool']}/members/{member}"
    with live.client() as client:
        fault(client.put(f"/v2/lbaas/pools/{graph['other_pool']}/members/{member}", json={"member": {}}), 404)
        fault(client.delete(f"/v2/lbaas/pools/{graph['pool']}/members/nope"), 404)
        fault(client.put(url, headers={"X-Project-Id": "p2", "X-Roles": "member"}, json={"member": {}}), 404)
        fault(client.put(url, json={"member": {"weight": 1000}}), 400)
        with live.db.transaction() as session:
            session.execute(
                update(models.Member).where(models.Member.id == other).values(provisioning_status=c.DELETED)
            )
            session.execute(update(models.LoadBalancer).values(provisioning_status=c.PENDING_UPDATE))
        fault(client.delete(f"/v2/lbaas/pools/{graph['pool']}/members/{other}"), 404)
        assert (
            fault(client.delete(url), 409)
            == f"Load Balancer {graph['lb']} is immutable and cannot be updated."
        )
        _reset(live, graph)
        with live.db.transaction() as session:
            session.execute(update(models.Pool).values(provisioning_status=c.PENDING_UPDATE))
        assert (
            fault(client.put(url, json={"member": {}}), 409)
            == f"Pool {graph['pool']} is immutable and cannot be updated."
        )
    assert _state(live, member)["member"]["provisioning_status"] == c.ACTIVE


BODIES = {
    "minimal": {"protocol_port": 80},
    "every field": {
        "protocol_port": 8080,
        "name": "web-1",
        "admin_state_up": False,
        "weight": 7,
        "backup": True,
        "subnet_id": "private-subnet",
        "monitor_address": "192.0.2.200",
        "monitor_port": 9000,
        "tags": ["z", "a", "z"],
        "project_id": "ignored",
    },
    "null weight and no tags": {"protocol_port": 81, "weight": None, "tags": []},
}
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))


@pytest.mark.parametrize("body", BODIES)
def test_post_stores_and_answers_what_the_orm_path_did(live, graph, body):
    raw = BODIES[body]
    _reset(live, graph)
    with live.client() as client:
        response = client.post(
            f"/v2/lbaas/pools/{graph['pool']}/members", json={"member": {**raw, "address": next(_addresses)}}
        )
    if raw.get("weight", 1) is None:
        # Refused before any row is touched, by both paths alike (the body's parse).
        fault(response, 400)
        with pytest.raises(Exception, match="weight"):
            _orm_create(live, graph["pool"], {**raw, "address": next(_addresses)})
        return
    rows_answer = check(response, 201)["member"]
    rows_state = _state(live, rows_answer["id"])
    _reset(live, graph)
    orm_answer = _orm_create(live, graph["pool"], {**raw, "address": next(_addresses)})
    orm_state = _state(live, orm_answer["id"])

    def same(answer: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in answer.items() if k not in ("id", "created_at", "address")}

    assert same(rows_answer) == same(orm_answer)
    assert rows_answer["created_at"] is not None
    assert rows_state == orm_state
    moved = rows_state["moved"]
    assert moved[graph["lb"]] == (c.PENDING_UPDATE, True)
    assert moved[graph["pool"]] == (c.PENDING_UPDATE, True)
    assert moved[graph["redirecting"]] == (c.PENDING_UPDATE, True)
    assert moved[graph["other_pool"]] == (c.ACTIVE, False)


def test_refusals_leave_every_row_as_it_was(live, graph):
    _reset(live, graph)
    url = f"/v2/lbaas/pools/{graph['pool']}/members"
    with live.client() as client:
        taken = check(client.post(url, json={"member": {"address": "203.0.113.1", "protocol_port": 80}}), 201)
        _reset(live, graph)
        before = _state(live, taken["member"]["id"])
        assert fault(
            client.post(url, json={"member": {"address": "203.0.113.1", "protocol_port": 80}}), 409
        ) == ("Another member on this pool is already using ip 203.0.113.1 on protocol_port 80")
        assert fault(
            client.post(
                url, json={"member": {"address": "203.0.113.2", "protocol_port": 80, "request_sriov": True}}
            ),
            400,
        )
        assert _state(live, taken["member"]["id"]) == before
        with live.db.transaction() as session:
            session.execute(
                update(models.Pool).where(models.Pool.id == graph["pool"]).values(provisioning_status=c.ERROR)
            )
        assert fault(
            client.post(url, json={"member": {"address": "203.0.113.3", "protocol_port": 80}}), 409
        ) == (f"Pool {graph['pool']} is immutable and cannot be updated.")
        _reset(live, graph)
        with live.db.transaction() as session:
            session.execute(update(models.LoadBalancer).values(provisioning_status=c.PENDING_UPDATE))
        assert fault(
            client.post(url, json={"member": {"address": "203.0.113.4", "protocol_port": 80}}), 409
        ) == (f"Load Balancer {graph['lb']} is immutable and cannot be updated.")
        other = {"X-Project-Id": "p2", "X-Roles": "member"}
        _reset(live, graph)
        fault(
            client.post(url, headers=other, json={"member": {"address": "203.0.113.5", "protocol_port": 80}}),
            404,
        )
        fault(
            client.post(
                "/v2/lbaas/pools/nope/members",
                json={"member": {"address": "203.0.113.6", "protocol_port": 80}},
            ),
            404,
        )
        assert _state(live, taken["member"]["id"])["moved"] == before["moved"]
