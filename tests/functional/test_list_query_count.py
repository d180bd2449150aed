"""A list page costs the same number of queries whatever its length.

Lists read their objects' relationships a page at a time (ostia/api/row_objects.py): one
query per relationship a serializer reads, also for children in ERROR, whose reason is
looked up through their pool's or listener's load balancer. A serializer that read a
relationship per object would make a page of twelve cost more queries than a page of two.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, update

from ostia.db import models
from tests.support.live_api import LiveAPI, migrated_sqlite, running_api
from tests.support.objects import (
    check,
    create_healthmonitor,
    create_l7policy,
    create_lb,
    create_listener,
    create_member,
    create_pool,
)

LBAAS = "/v2/lbaas"
COUNT = 12


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAPI]:
    with running_api(migrated_sqlite(str(tmp_path_factory.mktemp("count") / "octavia.db"))) as api:
        yield api


@pytest.fixture(scope="module")
def client(live: LiveAPI) -> Iterator[httpx.Client]:
    with live.client() as http:
        yield http


@pytest.fixture(scope="module")
def graph(live: LiveAPI, client: httpx.Client) -> dict[str, Any]:
    """Twelve load balancers, each with a listener, a pool, a monitor and an L7 redirect
    to the pool; the first pool has twelve members; tags on all; members and listeners
    in ERROR (their reason comes from the load balancer)."""
    pools = []
    for i in range(COUNT):
        lb = create_lb(client, name=f"lb-{i}", tags=[f"t{i}", "all"])
        listener = create_listener(client, lb["id"], tags=["all"])
        pool = create_pool(client, listener_id=listener["id"], tags=["all"])
        create_healthmonitor(client, pool["id"], tags=["all"])
        create_l7policy(
            client, listener["id"], action="REDIRECT_TO_POOL", redirect_pool_id=pool["id"], tags=["all"]
        )
        pools.append(pool["id"])
    for i in range(COUNT):
        create_member(client, pools[0], address=f"192.0.2.{10 + i}", tags=["all"])
    with live.db.transaction() as session:
        session.execute(update(models.LoadBalancer).values(last_error="HaproxyRenderError: bad"))
        for model in (models.Member, models.Listener):
            session.execute(update(model).values(provisioning_status="ERROR"))
    return {"pool": pools[0]}


class _Statements:
    """SELECTs the API's engine runs while in the `with` block (BEGIN, COMMIT and the
    PRAGMAs a pooled connection runs on its first read after a write are not counted)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.count = 0

    def _seen(self, _connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.count += 1

    def __enter__(self) -> _Statements:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def _statements(live: LiveAPI, client: httpx.Client, url: str, expected_items: int) -> int:
    """How many SELECTs the list at `url` runs; it must list `expected_items`."""
    with _Statements(live.db.engine) as statements:
        body = check(client.get(url), 200)
    listed = next(value for key, value in body.items() if not key.endswith("_links"))
    assert len(listed) == expected_items, url
    return statements.count


@pytest.mark.parametrize(
    "path",
    ["loadbalancers", "listeners", "pools", "pools/{pool}/members", "healthmonitors", "l7policies"],
)
def test_a_page_of_twelve_costs_the_queries_of_a_page_of_two(live, client, graph, path):
    url = f"{LBAAS}/{path.format(**graph)}?tags=all"
    short = _statements(live, client, f"{url}&limit=2", 2)
    long = _statements(live, client, f"{url}&limit={COUNT}", COUNT)
    assert long == short, (path, short, long)


def test_a_load_balancer_page_reads_its_children_in_one_query(live, client, graph):
    """The page, then its tags, additional VIPs, listeners and pools together (one UNION
    ALL, row_objects._Batch); the VIP comes in the page's own rows."""
    assert _statements(live, client, f"{LBAAS}/loadbalancers?tags=all&limit={COUNT}", COUNT) == 2
