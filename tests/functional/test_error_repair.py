"""A load balancer in ERROR can be repaired by its tenant: every child may be updated or
deleted (upstream answers 409), nothing new may be created, and the reason is readable.

Amphora provider with no worker (`create_held_lb`): a change stays pending where the test
can see it; `settle` then plays the worker's successful reconcile.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from ostia.db import models
from tests.support.objects import (
    check,
    create_healthmonitor,
    create_held_lb,
    create_l7policy,
    create_l7rule,
    create_listener,
    create_member,
    create_pool,
    fault,
    settle,
    show,
)

REFUSAL = (
    "AgentInvalidRequest: Invalid request: [ALERT] (7) : config : parsing "
    "[/var/lib/octavia/x/haproxy.cfg:9] : 'bind' : cannot bind"
)


def _tree(api: Any, client: httpx.Client) -> dict[str, Any]:
    lb = create_held_lb(api, client)
    tree: dict[str, Any] = {"lb": lb}
    tree["listener"] = create_listener(client, lb["id"])
    settle(api, lb["id"])
    tree["pool"] = create_pool(client, listener_id=tree["listener"]["id"])
    settle(api, lb["id"])
    tree["member"] = create_member(client, tree["pool"]["id"])
    settle(api, lb["id"])
    tree["healthmonitor"] = create_healthmonitor(client, tree["pool"]["id"])
    settle(api, lb["id"])
    tree["l7policy"] = create_l7policy(client, tree["listener"]["id"])
    settle(api, lb["id"])
    tree["rule"] = create_l7rule(client, tree["l7policy"]["id"])
    settle(api, lb["id"])
    return tree


def _fail(api: Any, tree: dict[str, Any], *failed: str) -> None:
    """The worker's verdict: the LB and the named objects in ERROR, with its reason."""
    model = {
        "listener": models.Listener,
        "pool": models.Pool,
        "member": models.Member,
        "healthmonitor": models.HealthMonitor,
        "l7policy": models.L7Policy,
        "rule": models.L7Rule,
    }
    with api.db.transaction() as session:
        session.execute(
            update(models.LoadBalancer)
            .where(models.LoadBalancer.id == tree["lb"]["id"])
            .values(provisioning_status="ERROR", last_error=REFUSAL)
        )
        for key in failed:
            session.execute(
                update(model[key]).where(model[key].id == tree[key]["id"]).values(provisioning_status="ERROR")
            )


PATHS = {
    "listener": lambda t: f"listeners/{t['listener']['id']}",
    "pool": lambda t: f"pools/{t['pool']['id']}",
    "member": lambda t: f"pools/{t['pool']['id']}/members/{t['member']['id']}",
    "healthmonitor": lambda t: f"healthmonitors/{t['healthmonitor']['id']}",
    "l7policy": lambda t: f"l7policies/{t['l7policy']['id']}",
    "rule": lambda t: f"l7policies/{t['l7policy']['id']}/rules/{t['rule']['id']}",
}


def _get(client: httpx.Client, tree: dict[str, Any], key: str) -> dict[str, Any]:
    return show(client, f"/v2/lbaas/{PATHS[key](tree)}", key)


def test_the_reason_shows_on_the_lb_and_on_each_child_in_error(api, client):
    tree = _tree(api, client)
    _fail(api, tree, "listener", "member")
    expected = (
        "AgentInvalidRequest: Invalid request: [ALERT] (7) : config : parsing "
        "[haproxy.cfg:9] : 'bind' : cannot bind"
    )
    lb = show(client, f"/v2/lbaas/loadbalancers/{tree['lb']['id']}", "loadbalancer")
    assert (lb["provisioning_status"], lb["provisioning_status_reason"]) == ("ERROR", expected)
    reasons = {key: _get(client, tree, key)["provisioning_status_reason"] for key in PATHS}
    assert reasons == {
        "listener": expected,
        "pool": None,
        "member": expected,
        "healthmonitor": None,
        "l7policy": None,
        "rule": None,
    }
    listed = check(client.get("/v2/lbaas/listeners"), 200)["listeners"]
    assert [li["provisioning_status_reason"] for li in listed] == [expected]


def test_every_child_of_an_lb_in_error_can_be_updated(api, client):
    tree = _tree(api, client)
    updates = {
        "listener": {"name": "x"},
        "pool": {"name": "x"},
        "member": {"weight": 2},
        "healthmonitor": {"delay": 7},
        "l7policy": {"name": "x"},
        "rule": {"value": "/other"},
    }
    for key, body in updates.items():
        _fail(api, tree, "listener", "pool", "l7policy")
        response = client.put(f"/v2/lbaas/{PATHS[key](tree)}", json={key: body})
        assert check(response, 200)[key]["provisioning_status"] == "PENDING_UPDATE", key
        lb = show(client, f"/v2/lbaas/loadbalancers/{tree['lb']['id']}", "loadbalancer")
        assert (lb["provisioning_status"], lb["provisioning_status_reason"]) == ("PENDING_UPDATE", None)
        # While it is pending, everything else still answers 409.
        fault(client.put(f"/v2/lbaas/{PATHS['listener'](tree)}", json={"listener": {"name": "y"}}), 409)
        settle(api, tree["lb"]["id"])
        # A successful reconcile applies the whole graph: nothing is left in ERROR.
        assert {k: _get(client, tree, k)["provisioning_status"] for k in PATHS} == {
            k: "ACTIVE" for k in PATHS
        }, key


def test_every_child_of_an_lb_in_error_can_be_deleted(api, client):
    tree = _tree(api, client)
    for key in ("rule", "l7policy", "healthmonitor", "member", "pool", "listener"):
        _fail(api, tree, key)
        check(client.delete(f"/v2/lbaas/{PATHS[key](tree)}"), 204)
        settle(api, tree["lb"]["id"])
        check(client.get(f"/v2/lbaas/{PATHS[key](tree)}"), 404)
    lb = show(client, f"/v2/lbaas/loadbalancers/{tree['lb']['id']}", "loadbalancer")
    assert (lb["provisioning_status"], lb["provisioning_status_reason"]) == ("ACTIVE", None)


def test_nothing_new_under_an_lb_in_error_and_the_lb_itself_stays_as_upstream(api, client):
    tree = _tree(api, client)
    _fail(api, tree, "listener")
    lb_id = tree["lb"]["id"]
    fault(
        client.post(
            "/v2/lbaas/listeners",
            json={"listener": {"loadbalancer_id": lb_id, "protocol": "TCP", "protocol_port": 81}},
        ),
        409,
    )
    fault(
        client.post(
            "/v2/lbaas/pools",
            json={"pool": {"loadbalancer_id": lb_id, "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}},
        ),
        409,
    )
    fault(
        client.post(
            f"/v2/lbaas/pools/{tree['pool']['id']}/members",
            json={"member": {"address": "192.0.2.99", "protocol_port": 80}},
        ),
        409,
    )
    fault(client.put(f"/v2/lbaas/loadbalancers/{lb_id}", json={"loadbalancer": {"name": "x"}}), 409)
    check(client.delete(f"/v2/lbaas/loadbalancers/{lb_id}", params={"cascade": "true"}), 204)
