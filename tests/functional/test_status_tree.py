"""The status tree: GET /loadbalancers/{id}/status of a full load balancer."""

from __future__ import annotations

import uuid

from tests.support.objects import (
    check,
    create_healthmonitor,
    create_held_lb,
    create_lb,
    create_listener,
    create_member,
    create_pool,
    fault,
    settle,
)


def _policy(client, listener_id, **body):
    return check(
        client.post("/v2/lbaas/l7policies", json={"l7policy": {"listener_id": listener_id, **body}}), 201
    )["l7policy"]


def _rule(client, policy_id, **body):
    return check(client.post(f"/v2/lbaas/l7policies/{policy_id}/rules", json={"rule": body}), 201)["rule"]


def _full_lb(client):
    """2 listeners, 3 pools, 6 members, 2 health monitors, 3 L7 policies with rules."""
    lb = create_lb(client, name="tree")
    web = create_listener(client, lb["id"], name="web", protocol="HTTP", port=80)
    tcp = create_listener(client, lb["id"], name="tcp", protocol="TCP", port=443)
    web_pool = create_pool(client, listener_id=web["id"], name="web-pool")
    api_pool = create_pool(client, loadbalancer_id=lb["id"], name="api-pool")
    tcp_pool = create_pool(client, listener_id=tcp["id"], name="tcp-pool", protocol="TCP")
    members = {}
    for pool in (web_pool, api_pool, tcp_pool):
        members[pool["id"]] = [
            create_member(client, pool["id"], address=f"192.0.2.{i}", port=8080, name=f"m{i}") for i in (1, 2)
        ]
    web_hm = create_healthmonitor(client, web_pool["id"], name="web-hm")
    tcp_hm = create_healthmonitor(client, tcp_pool["id"], type="TCP")
    to_api = _policy(client, web["id"], action="REDIRECT_TO_POOL", redirect_pool_id=api_pool["id"])
    _rule(client, to_api["id"], type="PATH", compare_type="STARTS_WITH", value="/api")
    reject = _policy(client, web["id"], action="REJECT")
    _rule(client, reject["id"], type="HEADER", compare_type="EQUAL_TO", key="X-Bad", value="1")
    moved = _policy(client, web["id"], action="REDIRECT_TO_URL", redirect_url="https://example.com/")
    _rule(client, moved["id"], type="HOST_NAME", compare_type="EQUAL_TO", value="old.example")
    return lb, web, tcp, web_pool, api_pool, tcp_pool, members, web_hm, tcp_hm


def test_status_tree_of_a_full_load_balancer(client):
    lb, web, tcp, web_pool, api_pool, tcp_pool, members, web_hm, tcp_hm = _full_lb(client)
    tree = check(client.get(f"/v2/lbaas/loadbalancers/{lb['id']}/status"), 200)
    root = tree["statuses"]["loadbalancer"]
    assert (root["id"], root["name"], root["provisioning_status"], root["operating_status"]) == (
        lb["id"],
        "tree",
        "ACTIVE",
        "OFFLINE",
    )
    listeners = {li["id"]: li for li in root["listeners"]}
    assert set(listeners) == {web["id"], tcp["id"]}
    assert set(listeners[web["id"]]) == {"id", "name", "provisioning_status", "operating_status", "pools"}
    web_pools = {p["id"]: p for p in listeners[web["id"]]["pools"]}
    # A listener lists its default pool and the pools its L7 policies redirect to.
    assert set(web_pools) == {web_pool["id"], api_pool["id"]}
    assert [p["id"] for p in listeners[tcp["id"]]["pools"]] == [tcp_pool["id"]]
    web_entry = web_pools[web_pool["id"]]
    assert web_entry["health_monitor"] == {
        "id": web_hm["id"],
        "name": "web-hm",
        "type": "HTTP",
        "provisioning_status": "ACTIVE",
        "operating_status": "ONLINE",
    }
    assert "health_monitor" not in web_pools[api_pool["id"]]
    assert listeners[tcp["id"]]["pools"][0]["health_monitor"]["type"] == "TCP"
    for pool_id, entry in [*web_pools.items(), (tcp_pool["id"], listeners[tcp["id"]]["pools"][0])]:
        assert sorted(
            (m["id"], m["name"], m["address"], m["protocol_port"]) for m in entry["members"]
        ) == sorted((m["id"], m["name"], m["address"], m["protocol_port"]) for m in members[pool_id])
        assert {m["provisioning_status"] for m in entry["members"]} == {"ACTIVE"}
    assert {m["operating_status"] for m in web_entry["members"]} == {"NO_MONITOR"}
    statuses = check(client.get(f"/v2/lbaas/loadbalancers/{lb['id']}/statuses"), 200)
    assert statuses == tree


def test_pending_objects_and_pools_without_listeners(api, client):
    lb = create_held_lb(api, client)
    listener = create_listener(client, lb["id"])
    settle(api, lb["id"])
    create_pool(client, loadbalancer_id=lb["id"], name="loose")
    settle(api, lb["id"])
    pool = create_pool(client, listener_id=listener["id"])
    root = check(client.get(f"/v2/lbaas/loadbalancers/{lb['id']}/status"), 200)["statuses"]["loadbalancer"]
    assert root["provisioning_status"] == "PENDING_UPDATE"
    [entry] = root["listeners"]
    assert entry["provisioning_status"] == "PENDING_UPDATE"
    # The loose pool serves no listener, so it is not in the tree.
    assert [(p["id"], p["name"], p["provisioning_status"]) for p in entry["pools"]] == [
        (pool["id"], "", "PENDING_CREATE")
    ]
    assert entry["pools"][0]["members"] == []


def test_status_of_an_unknown_load_balancer_is_404(client):
    missing = str(uuid.uuid4())
    assert (
        fault(client.get(f"/v2/lbaas/loadbalancers/{missing}/status"), 404)
        == f"Load Balancer {missing} not found."
    )
