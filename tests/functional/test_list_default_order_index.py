"""A list in its default order reads an index in that order instead of sorting the table.

Without `sort`, lists are ordered by creation time (NULL as the earliest time) and id
(ostia/api/collection.py). Migration 0006 indexes exactly that expression; if the query
and the index ever spell it differently (a bound stand-in, another literal), the database
silently goes back to sorting every row of the table before the LIMIT, which is what made
a list of 1,000 load balancers cost most of its time on SQLite. Here the page query each
list runs is captured as sent and shown to the database's planner, on SQLite and
PostgreSQL, for an admin's list, a project's list and a list under a parent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from tests.support.databases import BOTH_DATABASES, fresh_database
from tests.support.live_api import LiveAPI, running_api
from tests.support.objects import (
    check,
    create_healthmonitor,
    create_l7policy,
    create_l7rule,
    create_lb,
    create_listener,
    create_member,
    create_pool,
)

LBAAS = "/v2/lbaas"
PROJECT = {"X-Project-Id": "p1", "X-Roles": "member"}


@pytest.fixture(scope="module", params=BOTH_DATABASES)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAPI]:
    with running_api(fresh_database(request, tmp_path_factory, "order")) as api:
        yield api


@pytest.fixture(scope="module")
def graph(live: LiveAPI) -> dict[str, str]:
    with live.client() as client:
        lb = create_lb(client, project_id="p1")
        listener = create_listener(client, lb["id"])
        pool = create_pool(client, listener_id=listener["id"])
        create_member(client, pool["id"])
        create_healthmonitor(client, pool["id"])
        policy = create_l7policy(client, listener["id"])
        create_l7rule(client, policy["id"])
    return {"pool": pool["id"], "policy": policy["id"]}


def _page_query(live: LiveAPI, url: str, headers: dict[str, str]) -> tuple[str, Any]:
    """The statement (and its parameters) that read the page of the list at `url`."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if "ORDER BY" in statement and "LIMIT" in statement:
            seen.append((statement, parameters))

    event.listen(live.db.engine, "before_cursor_execute", record)
    try:
        with live.client(**headers) as client:
            check(client.get(url), 200)
    finally:
        event.remove(live.db.engine, "before_cursor_execute", record)
    assert len(seen) == 1, seen
    return seen[0]


def _plan(live: LiveAPI, statement: str, parameters: Any) -> str:
    """The planner's plan for the statement. PostgreSQL is told to avoid scanning and
    sorting whenever it can (with a handful of rows it would rather sort them), so that an
    index scan appears if and only if an index serves the order."""
    with live.db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            return "\n".join(str(row[-1]) for row in rows)
        conn.exec_driver_sql("SET enable_seqscan = off")
        conn.exec_driver_sql("SET enable_sort = off")
        rows = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
        conn.rollback()
        return "\n".join(str(row[0]) for row in rows)


@pytest.mark.parametrize(
    ("path", "headers", "index"),
    [
        ("loadbalancers", {}, "ix_load_balancer_default_order"),
        ("loadbalancers?sort_dir=desc", {}, "ix_load_balancer_default_order"),
        ("loadbalancers", PROJECT, "ix_load_balancer_project_default_order"),
        ("listeners", {}, "ix_listener_default_order"),
        ("pools", PROJECT, "ix_pool_project_default_order"),
        ("healthmonitors", {}, "ix_health_monitor_default_order"),
        ("l7policies", {}, "ix_l7policy_default_order"),
        ("pools/{pool}/members", {}, "ix_member_pool_id_default_order"),
        ("l7policies/{policy}/rules", {}, "ix_l7rule_l7policy_id_default_order"),
    ],
)
def test_default_order_is_read_from_an_index(live, graph, path, headers, index):
    statement, parameters = _page_query(live, f"{LBAAS}/{path.format(**graph)}", headers)
    plan = _plan(live, statement, parameters)
    assert index in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
