"""Every list answers byte for byte what it answered when its rows were ORM objects.

Lists read their pages with Core into plain objects (ostia/api/row_objects.py) that the
resources' own `serialize` turns into answers. Here each of the thirteen lists is asked
with filters, tag filters, both sort syntaxes, markers in both directions, `fields=` and a
project-scoped caller, once as served and once with the page read as ORM objects (the
same query with the model as its only entity, as before), on SQLite and PostgreSQL. The
graph has what a serializer reads beyond columns: tags, VIPs, children by id, DELETED
children (left out), session persistence, L7 redirects, and objects in ERROR whose reason
comes from their load balancer.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any, NamedTuple

import httpx
import pytest
from sqlalchemy import Select
from sqlalchemy.orm import Session

from ostia.api import collection as collection_mod
from ostia.db import models
from tests.support.databases import BOTH_DATABASES, fresh_database
from tests.support.live_api import ADDITIONAL_VIP_SUBNETS, LiveAPI, running_api
from tests.support.objects import (
    check,
    create_healthmonitor,
    create_l7policy,
    create_l7rule,
    create_lb,
    create_listener,
    create_member,
    create_pool,
    insert_amphora,
    update_row,
)

LBAAS = "/v2/lbaas"
V2 = "/v2"


@pytest.fixture(scope="module", params=BOTH_DATABASES)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAPI]:
    url = fresh_database(request, tmp_path_factory, "rows")
    with running_api(url, ADDITIONAL_VIP_SUBNETS) as api:
        yield api


def _orm_rows(session: Session, collection: collection_mod.Collection, query: Select) -> list[Any]:
    """The page as ORM objects: the list's own query with the model as its only entity."""
    return list(session.scalars(query.with_only_columns(collection.model)).unique())


@pytest.fixture(scope="module")
def graph(live: LiveAPI) -> dict[str, Any]:
    """Load balancers with children of every kind, profiles, flavors, zones, amphorae, quotas."""
    with live.client() as client:
        for i in range(2):
            fp = check(
                client.post(
                    f"{LBAAS}/flavorprofiles",
                    json={
                        "flavorprofile": {
                            "name": f"fp-{i}",
                            "provider_name": "noop_driver",
                            "flavor_data": "{}",
                        }
                    },
                ),
                201,
            )["flavorprofile"]
            flavor = {"name": f"f{i}", "flavor_profile_id": fp["id"], "description": "d" if i else None}
            check(client.post(f"{LBAAS}/flavors", json={"flavor": flavor}), 201)
        for i in range(2):
            azp = check(
                client.post(
                    f"{LBAAS}/availabilityzoneprofiles",
                    json={
                        "availability_zone_profile": {
                            "name": f"azp-{i}",
                            "provider_name": "noop_driver",
                            "availability_zone_data": "{}",
                        }
                    },
                ),
                201,
            )["availability_zone_profile"]
        for name in ("az-b", "az-a"):
            check(
                client.post(
                    f"{LBAAS}/availabilityzones",
                    json={"availability_zone": {"name": name, "availability_zone_profile_id": azp["id"]}},
                ),
                201,
            )
        lbs = [
            create_lb(client, name="lb-0", tags=["a", "b"], project_id="p1", description="x"),
            create_lb(
                client,
                name="lb-1",
                tags=["b"],
                project_id="p1",
                admin_state_up=False,
                additional_vips=[{"subnet_id": "private"}],
            ),
            create_lb(client, name="lb-2", project_id="p2", vip_subnet_id="public-subnet"),
            create_lb(client, name=None, tags=["c", "a"], project_id="p1"),
        ]
        lb = lbs[0]["id"]
        listeners = [
            create_listener(client, lb, port=80, tags=["web"], insert_headers={"X-Forwarded-For": "true"}),
            create_listener(client, lb, port=81, connection_limit=100),
            create_listener(client, lb, port=82),
        ]
        pool = create_pool(
            client,
            listener_id=listeners[0]["id"],
            tags=["web"],
            session_persistence={"type": "APP_COOKIE", "cookie_name": "c"},
        )
        other_pool = create_pool(client, loadbalancer_id=lb, lb_algorithm="LEAST_CONNECTIONS")
        members = [
            create_member(client, pool["id"], address=f"192.0.2.{10 + i}", weight=i, tags=[f"m{i % 2}"])
            for i in range(4)
        ]
        monitor = create_healthmonitor(client, pool["id"], url_path="/health")
        create_healthmonitor(client, other_pool["id"], type="TCP")
        policies = [
            create_l7policy(
                client, listeners[1]["id"], action="REDIRECT_TO_POOL", redirect_pool_id=pool["id"]
            ),
            create_l7policy(client, listeners[1]["id"], position=1, tags=["first"]),
        ]
        rules = [
            create_l7rule(client, policies[0]["id"], value=f"/v{i}", tags=["r"] if i else [])
            for i in range(3)
        ]
        for project, quota in (("p1", {"loadbalancer": 5}), ("p2", {"listener": 3, "member": -1})):
            check(client.put(f"{LBAAS}/quotas/{project}", json={"quota": quota}), 202)
    insert_amphora(live, lb, role="MASTER", vrrp_id=1)
    insert_amphora(live, None, status="READY", role=None)
    # ERROR children read their reason from their load balancer's last error; DELETED
    # children are left out of every answer that names them.
    update_row(live, models.LoadBalancer, lb, last_error="HaproxyRenderError: bad /var/lib/x/haproxy.cfg")
    for model, ident in (
        (models.Listener, listeners[1]["id"]),
        (models.Pool, other_pool["id"]),
        (models.Member, members[1]["id"]),
        (models.HealthMonitor, monitor["id"]),
        (models.L7Policy, policies[1]["id"]),
        (models.L7Rule, rules[1]["id"]),
    ):
        update_row(live, model, ident, provisioning_status="ERROR")
    update_row(live, models.Listener, listeners[2]["id"], provisioning_status="DELETED")
    update_row(live, models.Member, members[3]["id"], provisioning_status="DELETED")
    update_row(live, models.L7Rule, rules[2]["id"], provisioning_status="DELETED")
    return {"pool": pool["id"], "policy": policies[0]["id"]}


class Listed(NamedTuple):
    path: str  # below /v2
    plural: str
    key: str  # what a marker names
    sorts: tuple[str, ...]
    tagged: bool
    filters: tuple[str, ...]


LISTS = [
    Listed(
        "lbaas/loadbalancers",
        "loadbalancers",
        "id",
        ("name", "vip_address", "admin_state_up"),
        True,
        ("name=lb-1", "admin_state_up=false", "vip_subnet_id=public-subnet", "project_id=p1&project_id=p2"),
    ),
    Listed(
        "lbaas/listeners",
        "listeners",
        "id",
        ("protocol_port", "connection_limit"),
        True,
        ("protocol_port=81",),
    ),
    Listed("lbaas/pools", "pools", "id", ("lb_algorithm", "name"), True, ("lb_algorithm=ROUND_ROBIN",)),
    Listed(
        "lbaas/pools/{pool}/members",
        "members",
        "id",
        ("weight", "address"),
        True,
        ("weight=2", "address=192.0.2.11"),
    ),
    Listed("lbaas/healthmonitors", "healthmonitors", "id", ("type", "url_path"), True, ("type=TCP",)),
    Listed("lbaas/l7policies", "l7policies", "id", ("position", "action"), True, ("action=REJECT",)),
    Listed("lbaas/l7policies/{policy}/rules", "rules", "id", ("value", "invert"), True, ("value=/v1",)),
    Listed("octavia/amphorae", "amphorae", "id", ("role", "vrrp_id"), False, ("status=READY",)),
    Listed("lbaas/flavors", "flavors", "id", ("name",), False, ("name=f1",)),
    Listed("lbaas/flavorprofiles", "flavorprofiles", "id", ("name",), False, ("provider_name=noop_driver",)),
    Listed(
        "lbaas/availabilityzones",
        "availability_zones",
        "name",
        ("name", "description"),
        False,
        ("name=az-a",),
    ),
    Listed(
        "lbaas/availabilityzoneprofiles",
        "availability_zone_profiles",
        "id",
        ("name",),
        False,
        ("name=azp-1",),
    ),
    Listed("lbaas/quotas", "quotas", "project_id", ("project_id", "loadbalancer"), False, ("project_id=p2",)),
]


def _queries(client: httpx.Client, listed: Listed, path: str) -> list[str]:
    """Filters, tag filters, both sort syntaxes, markers both ways and field selection."""
    everything = check(client.get(f"{V2}/{path}"), 200)[listed.plural]
    assert len(everything) >= 2, (path, everything)
    key = listed.key
    first, second = everything[0][key], everything[1][key]
    queries = ["", "limit=1", f"limit=1&marker={first}", f"limit=1&marker={second}&page_reverse=True"]
    queries += [f"fields={key}", f"fields={key},{listed.sorts[0]}&fields=created_at", "limit=infinite"]
    queries += listed.filters
    for sort_key in listed.sorts:
        queries += [
            f"sort={sort_key}:desc",
            f"sort_key={sort_key}&sort_dir=asc&limit=1&marker={second}",
            f"sort={sort_key}:asc,{key}:desc&limit=1&marker={first}&page_reverse=True",
        ]
    if listed.tagged:
        queries += ["tags=a", "tags=a,b", "tags-any=web,m0,first,r,c", "not-tags=a", "not-tags-any=b,web,r"]
    return queries


@pytest.mark.parametrize("listed", LISTS, ids=[listed.path.split("/")[-1] for listed in LISTS])
def test_list_answers_are_those_of_orm_rows(live, graph, monkeypatch, listed):
    path = listed.path.format(**graph)
    callers = [{}, {"X-Project-Id": "p1", "X-Roles": "member"}]
    with live.client() as client:
        queries = _queries(client, listed, path)
        served = {
            (query, i): client.get(f"{V2}/{path}?{query}", headers=headers)
            for query in queries
            for i, headers in enumerate(callers)
        }
        monkeypatch.setattr(collection_mod, "read_rows", _orm_rows)
        for (query, i), answer in served.items():
            expected = client.get(f"{V2}/{path}?{query}", headers=callers[i])
            assert (answer.status_code, answer.content) == (expected.status_code, expected.content), query
    assert json.loads(served["", 0].content)[listed.plural], "the graph lists something"


def test_lists_name_their_children_as_orm_objects_did(live, graph):
    """A spot check of what the byte comparison covers: children by id without DELETED
    ones, and the reason an ERROR child takes from its load balancer."""
    with live.client() as client:
        lb = check(client.get(f"{LBAAS}/loadbalancers?name=lb-0"), 200)["loadbalancers"][0]
        assert len(lb["listeners"]) == 2 and len(lb["pools"]) == 2
        assert lb["tags"] == ["a", "b"]
        listeners = check(client.get(f"{LBAAS}/listeners?provisioning_status=ERROR"), 200)["listeners"]
        assert [li["provisioning_status_reason"] for li in listeners] == [
            "HaproxyRenderError: bad haproxy.cfg"
        ]
        members = check(client.get(f"{LBAAS}/pools/{graph['pool']}/members?limit=infinite"), 200)["members"]
        assert len(members) == 3
        query = urllib.parse.urlencode({"fields": "id,tags"})
        tagged = check(client.get(f"{LBAAS}/pools?{query}&tags=web"), 200)["pools"]
        assert [set(p) for p in tagged] == [{"id", "tags"}]
