"""GET of one object answers what its serializer made of the ORM object, and hides the same.

A GET of one load balancer, listener, pool, member, health monitor, L7 policy or L7 rule
reads rows with Core (ostia/api/resource.py `read_live`, the load balancer's own query in
ostia/api/v2/loadbalancer_view.py), not ORM objects. Here each answer is compared with the
resource's `serialize` of the ORM object, field for field, on SQLite and PostgreSQL, over
a graph with what a serializer reads beyond columns: tags, additional VIPs, children by id
(DELETED ones left out), session persistence, an L7 redirect, and objects in ERROR whose
reason comes from their load balancer. Callers of another project, DELETED objects and
children named under the wrong parent get 404 as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ostia.api.routes import JSONResponse
from ostia.api.v2 import healthmonitors, l7policies, l7rules, listeners, loadbalancers, members, pools
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
    fault,
    update_row,
)

LBAAS = "/v2/lbaas"
OTHER_PROJECT = {"X-Project-Id": "p2", "X-Roles": "member"}


@pytest.fixture(scope="module", params=BOTH_DATABASES)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAPI]:
    url = fresh_database(request, tmp_path_factory, "show")
    with running_api(url, ADDITIONAL_VIP_SUBNETS) as api:
        yield api


@pytest.fixture(scope="module")
def graph(live: LiveAPI) -> dict[str, str]:
    """One load balancer of project p1 with a child of every kind, some in ERROR."""
    with live.client() as client:
        lb = create_lb(client, tags=["b", "a"], project_id="p1", additional_vips=[{"subnet_id": "private"}])[
            "id"
        ]
        web = create_listener(client, lb, port=80, tags=["web"], insert_headers={"X-Forwarded-For": "true"})
        api = create_listener(client, lb, port=81, connection_limit=100)
        gone = create_listener(client, lb, port=82)
        pool = create_pool(
            client,
            listener_id=web["id"],
            tags=["web"],
            session_persistence={"type": "APP_COOKIE", "cookie_name": "c"},
        )["id"]
        other_pool = create_pool(client, loadbalancer_id=lb)["id"]
        member = create_member(client, pool, tags=["m"])["id"]
        failed_member = create_member(client, pool, address="192.0.2.11")["id"]
        deleted_member = create_member(client, pool, address="192.0.2.12")["id"]
        monitor = create_healthmonitor(client, pool, url_path="/health")["id"]
        policy = create_l7policy(client, api["id"], action="REDIRECT_TO_POOL", redirect_pool_id=pool)["id"]
        rule = create_l7rule(client, policy, tags=["r"])["id"]
        failed_rule = create_l7rule(client, policy, value="/v1")["id"]
    update_row(live, models.LoadBalancer, lb, last_error="HaproxyRenderError: bad /var/lib/x/haproxy.cfg")
    for model, ident in (
        (models.Listener, api["id"]),
        (models.Pool, other_pool),
        (models.Member, failed_member),
        (models.L7Rule, failed_rule),
    ):
        update_row(live, model, ident, provisioning_status="ERROR")
    update_row(live, models.Listener, gone["id"], provisioning_status="DELETED")
    update_row(live, models.Member, deleted_member, provisioning_status="DELETED")
    return {
        "lb": lb,
        "listener": web["id"],
        "failed_listener": api["id"],
        "pool": pool,
        "failed_pool": other_pool,
        "member": member,
        "failed_member": failed_member,
        "deleted_member": deleted_member,
        "monitor": monitor,
        "policy": policy,
        "rule": rule,
        "failed_rule": failed_rule,
    }


# The object (its id in the graph) -> its path below /v2/lbaas and its resource module.
SHOWN = {
    "lb": ("loadbalancers/{lb}", loadbalancers),
    "listener": ("listeners/{listener}", listeners),
    "failed_listener": ("listeners/{failed_listener}", listeners),
    "pool": ("pools/{pool}", pools),
    "failed_pool": ("pools/{failed_pool}", pools),
    "member": ("pools/{pool}/members/{member}", members),
    "failed_member": ("pools/{pool}/members/{failed_member}", members),
    "monitor": ("healthmonitors/{monitor}", healthmonitors),
    "policy": ("l7policies/{policy}", l7policies),
    "rule": ("l7policies/{policy}/rules/{rule}", l7rules),
    "failed_rule": ("l7policies/{policy}/rules/{failed_rule}", l7rules),
}


@pytest.mark.parametrize("shown", SHOWN)
def test_show_answers_what_the_orm_object_serializes(live, graph, shown):
    path, resource = SHOWN[shown]
    url = f"{LBAAS}/{path.format(**graph)}"
    key = resource.COLLECTION.singular
    with live.client() as client:
        answer = check(client.get(url), 200)[key]
        owner = check(client.get(url, headers={"X-Project-Id": "p1", "X-Roles": "member"}), 200)[key]
        fields = check(client.get(f"{url}?fields=id&fields=tags"), 200)[key]
    with live.db.transaction() as session:
        orm_object = session.get(resource.COLLECTION.model, graph[shown])
        expected = json.loads(JSONResponse(resource.serialize(orm_object)).body)
    assert answer == expected
    assert owner == expected
    assert fields == {"id": expected["id"], "tags": expected["tags"]}


def test_the_graph_has_what_the_comparison_is_meant_to_cover(live, graph):
    with live.client() as client:
        lb = check(client.get(f"{LBAAS}/loadbalancers/{graph['lb']}"), 200)["loadbalancer"]
        listener = check(client.get(f"{LBAAS}/listeners/{graph['failed_listener']}"), 200)["listener"]
        pool = check(client.get(f"{LBAAS}/pools/{graph['pool']}"), 200)["pool"]
    assert lb["tags"] == ["a", "b"] and len(lb["additional_vips"]) == 1
    assert len(lb["listeners"]) == 2 and len(lb["pools"]) == 2  # the DELETED listener is left out
    assert listener["provisioning_status_reason"] == "HaproxyRenderError: bad haproxy.cfg"
    assert len(pool["members"]) == 2 and pool["session_persistence"]["cookie_name"] == "c"
    assert pool["healthmonitor_id"] == graph["monitor"]


@pytest.mark.parametrize("shown", SHOWN)
def test_another_projects_objects_look_missing(live, graph, shown):
    path, _ = SHOWN[shown]
    with live.client(**OTHER_PROJECT) as client:
        fault(client.get(f"{LBAAS}/{path.format(**graph)}"), 404)


def test_deleted_missing_and_misplaced_children_are_not_found(live, graph):
    missing = "0b6c1f0e-8d0e-4c1e-9d55-3f1e2b9c7a10"
    with live.client() as client:
        for path, message in (
            (f"pools/{graph['pool']}/members/{graph['deleted_member']}", "Member"),
            (f"pools/{graph['failed_pool']}/members/{graph['member']}", "Member"),
            (f"pools/{missing}/members/{graph['member']}", "Pool"),
            (f"l7policies/{graph['policy']}/rules/{missing}", "L7 Rule"),
            (f"l7policies/{missing}/rules/{graph['rule']}", "L7 Policy"),
            (f"listeners/{missing}", "Listener"),
            (f"healthmonitors/{graph['pool']}", "Health Monitor"),
        ):
            assert fault(client.get(f"{LBAAS}/{path}"), 404).startswith(message), path
