"""Single-call create: a whole load balancer tree in one POST, all or nothing."""

from __future__ import annotations

import copy

from sqlalchemy import func, select

from ostia.db import models
from tests.support.objects import check, fault, show

TREE_MODELS = (
    models.LoadBalancer,
    models.Vip,
    models.Listener,
    models.Pool,
    models.Member,
    models.HealthMonitor,
    models.SessionPersistence,
    models.L7Policy,
    models.L7Rule,
    models.Tag,
)

GRAPH = {
    "name": "full",
    "vip_subnet_id": "private-subnet",
    "tags": ["graph"],
    "listeners": [
        {
            "name": "web",
            "protocol": "HTTP",
            "protocol_port": 80,
            "default_pool": {
                "name": "web-pool",
                "protocol": "HTTP",
                "lb_algorithm": "ROUND_ROBIN",
                "session_persistence": {"type": "HTTP_COOKIE"},
                "healthmonitor": {
                    "type": "HTTP",
                    "delay": 5,
                    "timeout": 3,
                    "max_retries": 2,
                    "url_path": "/health",
                },
                "members": [
                    {"address": "192.0.2.1", "protocol_port": 8080},
                    {"address": "192.0.2.2", "protocol_port": 8080, "weight": 3},
                ],
            },
            "l7policies": [
                {
                    "name": "api",
                    "action": "REDIRECT_TO_POOL",
                    "redirect_pool": {"name": "api-pool"},
                    "rules": [{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"}],
                },
                {
                    "name": "block",
                    "action": "REJECT",
                    "rules": [{"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-Bad", "value": "1"}],
                },
            ],
        },
        {"name": "tcp", "protocol": "TCP", "protocol_port": 443, "default_pool": {"name": "tcp-pool"}},
    ],
    "pools": [
        {
            "name": "api-pool",
            "protocol": "HTTP",
            "lb_algorithm": "LEAST_CONNECTIONS",
            "members": [{"address": "192.0.2.3", "protocol_port": 8080}],
        },
        {
            "name": "tcp-pool",
            "protocol": "TCP",
            "lb_algorithm": "SOURCE_IP",
            "healthmonitor": {"type": "TCP", "delay": 5, "timeout": 3, "max_retries": 2},
        },
    ],
}


def _create(client, body):
    return client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})


def _row_counts(api) -> dict[str, int]:
    with api.db.transaction() as session:
        return {
            model.__name__: int(session.scalar(select(func.count()).select_from(model)))
            for model in TREE_MODELS
        }


def _by_name(objects):
    return {o["name"]: o for o in objects}


def test_full_graph_is_created_and_answered_in_full(client):
    lb = check(_create(client, GRAPH), 201)["loadbalancer"]
    assert lb["provisioning_status"] == "PENDING_CREATE" and lb["tags"] == ["graph"]
    listeners, pools = _by_name(lb["listeners"]), _by_name(lb["pools"])
    assert set(listeners) == {"web", "tcp"}
    assert set(pools) == {"web-pool", "api-pool", "tcp-pool"}
    assert all("loadbalancers" not in o for o in [*listeners.values(), *pools.values()])
    web, web_pool = listeners["web"], pools["web-pool"]
    assert web["default_pool_id"] == web_pool["id"]
    assert listeners["tcp"]["default_pool_id"] == pools["tcp-pool"]["id"]
    policies = _by_name(web["l7policies"])
    assert policies["api"]["redirect_pool_id"] == pools["api-pool"]["id"]
    assert policies["api"]["rules"][0]["value"] == "/api"
    assert policies["block"]["rules"][0]["key"] == "X-Bad"
    assert web_pool["healthmonitor"]["url_path"] == "/health"
    assert "pools" not in web_pool["healthmonitor"]
    assert web_pool["healthmonitor_id"] == web_pool["healthmonitor"]["id"]
    assert sorted(m["weight"] for m in web_pool["members"]) == [1, 3]
    assert {m["operating_status"] for m in web_pool["members"]} == {"OFFLINE"}
    assert pools["api-pool"]["members"][0]["operating_status"] == "NO_MONITOR"
    assert pools["api-pool"]["healthmonitor"] is None
    assert web_pool["session_persistence"]["type"] == "HTTP_COOKIE"
    assert {
        o["provisioning_status"] for o in [*listeners.values(), *pools.values(), *web_pool["members"]]
    } == {"PENDING_CREATE"}
    # The noop provider has settled it all.
    stored = show(client, f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer")
    assert stored["provisioning_status"] == "ACTIVE"
    assert len(stored["listeners"]) == 2 and len(stored["pools"]) == 3
    assert show(client, f"/v2/lbaas/pools/{pools['api-pool']['id']}", "pool")["listeners"] == [
        {"id": web["id"]}
    ]
    assert len(check(client.get("/v2/lbaas/l7policies"), 200)["l7policies"]) == 2


def test_pools_only_graph_and_plain_create_reply(client):
    lb = check(
        _create(
            client,
            {
                "vip_subnet_id": "private-subnet",
                "pools": [{"protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}],
            },
        ),
        201,
    )["loadbalancer"]
    assert lb["pools"][0]["name"] is None and lb["listeners"] == []
    plain = check(_create(client, {"vip_subnet_id": "private-subnet"}), 201)["loadbalancer"]
    assert plain["pools"] == [] and plain["listeners"] == []


def _broken(path: list, value) -> dict:
    """GRAPH with the item at `path` replaced by `value`."""
    body = copy.deepcopy(GRAPH)
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


BROKEN_GRAPHS = [
    (
        _broken(["listeners", 0, "default_pool", "members", 1, "weight"], 300),
        400,
        "listeners.0.default_pool.members.1.weight",
    ),
    (
        _broken(["listeners", 1, "protocol"], "UDP"),
        400,
        "The pool protocol 'TCP' is invalid while the listener protocol is 'UDP'",
    ),
    (_broken(["pools", 0, "name"], "tcp-pool"), 400, "Pool names must be unique"),
    (
        _broken(["listeners", 1, "default_pool"], {"name": "nowhere"}),
        400,
        "Pool 'nowhere' was referenced but no full definition was found.",
    ),
    (
        _broken(["listeners", 1, "default_pool"], {"protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}),
        400,
        "Pools must be named",
    ),
    (
        _broken(["pools", 1, "healthmonitor", "type"], "UDP-CONNECT"),
        400,
        "only supported for pools of type UDP/SCTP",
    ),
    (_broken(["listeners", 1, "protocol_port"], 80), 409, "already using protocol"),
    (_broken(["listeners", 0, "l7policies", 1, "rules", 0, "key"], None), 400, ""),
    (
        _broken(["pools", 0, "members", 0, "address"], "169.254.169.254"),
        400,
        "not a valid option for member address",
    ),
    (_broken(["pools", 0, "lb_algorithm"], "RANDOM"), 400, "pools.0.lb_algorithm"),
    (_broken(["listeners", 0, "loadbalancer_id"], "x"), 400, "loadbalancer_id"),
    (_broken(["pools"], {"not": "a list"}), 400, "pools"),
]


def test_any_invalid_part_stores_nothing(api, client):
    before = _row_counts(api)
    wrong = []
    for body, code, text in BROKEN_GRAPHS:
        response = _create(client, body)
        if response.status_code != code or text not in response.json()["faultstring"]:
            wrong.append((code, text, response.status_code, response.text))
    assert wrong == []
    assert _row_counts(api) == before
    check(_create(client, GRAPH), 201)


def test_quota_covers_every_object_in_the_graph(api, client):
    for resource, display in (
        ("member", "Member"),
        ("health_monitor", "Health Monitor"),
        ("l7rule", "L7 Rule"),
        ("pool", "Pool"),
    ):
        api.conf.set_override(f"default_{resource}_quota", 1, "quotas")
        assert fault(_create(client, GRAPH), 403) == f"Quota has been met for resources: {display}"
        api.conf.clear_override(f"default_{resource}_quota", "quotas")
    assert _row_counts(api)["LoadBalancer"] == 0


def test_cascade_delete_of_a_full_graph_leaves_nothing(api, client):
    lb = check(_create(client, GRAPH), 201)["loadbalancer"]
    check(client.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=True"), 204)
    for plural in ("listeners", "pools", "healthmonitors", "l7policies"):
        assert check(client.get(f"/v2/lbaas/{plural}"), 200)[plural] == []
    fault(client.get(f"/v2/lbaas/pools/{lb['pools'][0]['id']}/members"), 404)
    counts = _row_counts(api)
    # The load balancer row stays, DELETED, as upstream keeps it (with its VIP and its
    # one tag); nothing under it does.
    assert (counts.pop("LoadBalancer"), counts.pop("Vip"), counts.pop("Tag")) == (1, 1, 1)
    assert set(counts.values()) == {0}, counts
