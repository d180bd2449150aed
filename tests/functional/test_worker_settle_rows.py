"""The reconciler's settle on rows (ostia/controller/worker/settle_rows.py) leaves every
row as the ORM settle (lifecycle.settle_load_balancer) leaves it, and logs the same
transitions, on SQLite and PostgreSQL.

The graph has each kind of object in each status a settle meets without a deletion
(PENDING_CREATE, PENDING_UPDATE, ERROR, ACTIVE), monitors enabled and disabled whose
operating status must follow, L7 policies and rules, and amphorae BOOTING and ALLOCATED.
Both settles run through Reconciler._settle from the same rows; compared: every column of
every row, and whether updated_at moved. A lease held by someone else writes nothing.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from ostia.common import constants as c
from ostia.controller.worker import reconciler as reconciler_module
from ostia.controller.worker import settle_rows
from ostia.controller.worker.graph import AmphoraState, read_snapshot
from ostia.controller.worker.leases import Lease, LeaseLost
from ostia.controller.worker.reconciler import Reconciler
from ostia.db import models
from tests.support.databases import BOTH_DATABASES, fresh_database
from tests.support.live_api import LiveAPI, running_api
from tests.support.objects import (
    create_healthmonitor,
    create_l7policy,
    create_l7rule,
    create_lb,
    create_listener,
    create_member,
    create_pool,
)

OWNER = "worker-1"
LONG_AGO = datetime.datetime(2020, 1, 1)
TABLES = (
    models.LoadBalancer,
    models.Listener,
    models.L7Policy,
    models.L7Rule,
    models.Pool,
    models.HealthMonitor,
    models.Member,
    models.Amphora,
)


@pytest.fixture(scope="module", params=BOTH_DATABASES)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAPI]:
    with running_api(fresh_database(request, tmp_path_factory, "settle")) as api:
        yield api


@pytest.fixture(scope="module")
def graph(live: LiveAPI) -> dict[str, Any]:
    with live.client() as client:
        lb = create_lb(client)["id"]
        web = create_listener(client, lb, port=80)["id"]
        admin = create_listener(client, lb, port=81)["id"]
        idle = create_listener(client, lb, port=82)["id"]
        main = create_pool(client, listener_id=web)["id"]
        quiet = create_pool(client, listener_id=admin)["id"]
        broken = create_pool(client, loadbalancer_id=lb)["id"]
        members = [create_member(client, main, address=f"192.0.2.{n}")["id"] for n in range(1, 5)]
        members.append(create_member(client, quiet, address="192.0.2.9")["id"])
        watching = create_healthmonitor(client, main)["id"]
        disabled = create_healthmonitor(client, quiet, admin_state_up=False)["id"]
        policy = create_l7policy(client, web, action="REDIRECT_TO_POOL", redirect_pool_id=broken)["id"]
        rules = [create_l7rule(client, policy, value=f"/{n}")["id"] for n in range(2)]
    amphorae = [models.new_id(), models.new_id()]
    with live.db.transaction() as session:
        session.execute(
            insert(models.Amphora),
            [
                {
                    "id": amphorae[0],
                    "status": c.AMPHORA_BOOTING,
                    "load_balancer_id": lb,
                    "role": "STANDALONE",
                },
                {"id": amphorae[1], "status": c.AMPHORA_ALLOCATED, "load_balancer_id": lb, "role": "BACKUP"},
            ],
        )
    statuses = {
        (models.Listener, web): c.PENDING_UPDATE,
        (models.Listener, admin): c.ERROR,
        (models.Listener, idle): c.ACTIVE,
        (models.Pool, main): c.PENDING_UPDATE,
        (models.Pool, quiet): c.ACTIVE,
        (models.Pool, broken): c.ERROR,
        (models.Member, members[0]): c.PENDING_CREATE,
        (models.Member, members[1]): c.PENDING_UPDATE,
        (models.Member, members[2]): c.ERROR,
        (models.Member, members[3]): c.ACTIVE,
        (models.Member, members[4]): c.PENDING_CREATE,
        (models.HealthMonitor, watching): c.PENDING_CREATE,
        (models.HealthMonitor, disabled): c.ACTIVE,
        (models.L7Policy, policy): c.PENDING_UPDATE,
        (models.L7Rule, rules[0]): c.PENDING_CREATE,
        (models.L7Rule, rules[1]): c.ACTIVE,
    }
    return {"lb": lb, "statuses": statuses, "amphorae": amphorae, "member": members[0], "monitor": watching}


def _prepare(
    live: LiveAPI, graph: dict[str, Any], lb_status: str = c.PENDING_UPDATE, monitor: str = c.PENDING_CREATE
) -> None:
    """The graph's statuses as a reconcile finds them, every updated_at long ago; the
    enabled monitor in `monitor` status (ONLINE, as it must stay), the disabled one ONLINE
    (it must go OFFLINE)."""
    with live.db.transaction() as session:
        for (model, ident), status in graph["statuses"].items():
            session.execute(update(model).where(model.id == ident).values(provisioning_status=status))
        session.execute(update(models.HealthMonitor).values(operating_status=c.ONLINE, updated_at=LONG_AGO))
        session.execute(
            update(models.HealthMonitor)
            .where(models.HealthMonitor.id == graph["monitor"])
            .values(provisioning_status=monitor)
        )
        session.execute(
            update(models.LoadBalancer)
            .where(models.LoadBalancer.id == graph["lb"])
            .values(
                provisioning_status=lb_status,
                lease_owner=OWNER,
                lease_expires=datetime.datetime(2999, 1, 1),
                reconcile_attempts=3,
                last_error="RuntimeError: earlier attempt",
                updated_at=LONG_AGO,
            )
        )
        session.execute(
            update(models.Amphora)
            .where(models.Amphora.id == graph["amphorae"][0])
            .values(status=c.AMPHORA_BOOTING, updated_at=LONG_AGO)
        )
        # Last: each UPDATE above stamped its rows' updated_at.
        for model in TABLES:
            session.execute(update(model).values(updated_at=LONG_AGO))


def _rows(live: LiveAPI) -> dict[str, Any]:
    """Every column of every row, updated_at as whether it moved."""
    found: dict[str, Any] = {}
    with live.db.transaction() as session:
        for model in TABLES:
            for row in session.execute(select(model.__table__)).mappings():
                values = dict(row)
                values["updated_at"] = values["updated_at"] != LONG_AGO
                found[f"{model.__tablename__} {row['id']}"] = values
    return found


def _settle(
    live: LiveAPI, graph: dict[str, Any], monkeypatch: pytest.MonkeyPatch, on_rows: bool
) -> list[Any]:
    """Reconciler._settle on a fresh snapshot, through settle_rows or the ORM; its transitions."""
    snapshot = read_snapshot(live.db, graph["lb"])
    assert snapshot is not None
    logged: list[Any] = []
    with monkeypatch.context() as patch:
        patch.setattr(
            reconciler_module, "_log_transitions", lambda changes, reason=None: logged.extend(changes)
        )
        if not on_rows:
            patch.setattr(settle_rows, "applies", lambda lb: False)
        else:
            assert settle_rows.applies(snapshot.lb)
        reconciler = Reconciler(live.conf, live.db, drivers=None, owner=OWNER)  # type: ignore[arg-type]
        serving = tuple(amp for amp in snapshot.amphorae if amp.id in graph["amphorae"])
        assert len(serving) == 2 and all(isinstance(amp, AmphoraState) for amp in serving)
        reconciler._settle(Lease(live.db, graph["lb"], OWNER, 30), serving, snapshot.lb)
    return logged


@pytest.mark.parametrize(
    ("lb_status", "monitor"),
    [
        (c.PENDING_UPDATE, c.PENDING_CREATE),
        (c.PENDING_CREATE, c.PENDING_UPDATE),
        (c.PENDING_UPDATE, c.ACTIVE),
    ],
)
def test_rows_settle_leaves_what_the_orm_settle_leaves(live, graph, monkeypatch, lb_status, monitor):
    _prepare(live, graph, lb_status, monitor)
    orm_transitions = _settle(live, graph, monkeypatch, on_rows=False)
    orm_rows = _rows(live)
    _prepare(live, graph, lb_status, monitor)
    rows_transitions = _settle(live, graph, monkeypatch, on_rows=True)
    assert _rows(live) == orm_rows
    # The same lines, the load balancer's last (children in the order each load found them).
    assert sorted(rows_transitions[:-1]) == sorted(orm_transitions[:-1])
    assert rows_transitions[-1] == orm_transitions[-1]
    # What the comparison is about happened.
    lb = orm_rows[f"load_balancer {graph['lb']}"]
    assert (lb["provisioning_status"], lb["lease_owner"], lb["reconcile_attempts"]) == (c.ACTIVE, None, 0)
    assert {row["provisioning_status"] for row in orm_rows.values() if "status" not in row} == {c.ACTIVE}
    assert orm_rows[f"amphora {graph['amphorae'][0]}"]["status"] == c.AMPHORA_ALLOCATED
    monitors = [row for key, row in orm_rows.items() if key.startswith("health_monitor")]
    assert sorted(row["operating_status"] for row in monitors) == [c.OFFLINE, c.ONLINE]
    assert len(orm_transitions) == (11 if monitor == c.ACTIVE else 12)
    assert orm_transitions[-1].kind == "load balancer"
    # An enabled monitor already ONLINE and ACTIVE is not written (its updated_at stays).
    assert orm_rows[f"health_monitor {graph['monitor']}"]["updated_at"] == (monitor != c.ACTIVE)


def test_a_lease_held_by_another_worker_writes_nothing(live, graph):
    _prepare(live, graph)
    before = _rows(live)
    snapshot = read_snapshot(live.db, graph["lb"])
    assert snapshot is not None
    with pytest.raises(LeaseLost), live.db.transaction() as session:
        settle_rows.settle(session, snapshot.lb, "another-worker", graph["amphorae"])
    assert _rows(live) == before


def test_a_graph_with_something_to_delete_is_left_to_the_orm(live, graph):
    _prepare(live, graph)
    with live.db.transaction() as session:
        session.execute(
            update(models.Member)
            .where(models.Member.id == graph["member"])
            .values(provisioning_status=c.PENDING_DELETE)
        )
    snapshot = read_snapshot(live.db, graph["lb"])
    assert snapshot is not None
    assert not settle_rows.applies(snapshot.lb)
    _prepare(live, graph, c.PENDING_DELETE)
    snapshot = read_snapshot(live.db, graph["lb"])
    assert snapshot is not None
    assert not settle_rows.applies(snapshot.lb)
