"""Quotas over HTTP: defaults, PUT/GET/DELETE, bounds, aliases and enforcement per type."""

from __future__ import annotations

import pytest

from tests.support.live_api import migrated_sqlite, running_api
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
)

URL = "/v2/lbaas/quotas"
ALL_UNLIMITED = {
    "loadbalancer": -1,
    "load_balancer": -1,
    "listener": -1,
    "member": -1,
    "pool": -1,
    "healthmonitor": -1,
    "health_monitor": -1,
    "l7policy": -1,
    "l7rule": -1,
}


def _put(client, project_id, **quota):
    return client.put(f"{URL}/{project_id}", json={"quota": quota})


def test_defaults_and_a_project_without_record(client):
    assert check(client.get(f"{URL}/defaults"), 200) == {"quota": ALL_UNLIMITED}
    assert check(client.get(f"{URL}/p1/default"), 200) == {
        "quota": {"project_id": "p1", "tenant_id": "p1", **ALL_UNLIMITED}
    }
    assert check(client.get(f"{URL}/p1"), 200) == {"quota": ALL_UNLIMITED}
    assert check(client.get(URL), 200) == {"quotas": [], "quotas_links": []}


def test_configured_defaults_fill_unset_limits(tmp_path):
    overrides = {"quotas": {"default_listener_quota": 7, "default_l7rule_quota": 0}}
    with running_api(migrated_sqlite(f"{tmp_path}/o.db"), overrides) as api, api.client() as client:
        defaults = check(client.get(f"{URL}/defaults"), 200)["quota"]
        assert (defaults["listener"], defaults["l7rule"], defaults["pool"]) == (7, 0, -1)
        quota = check(_put(client, "p1", pool=3), 202)["quota"]
        assert (quota["listener"], quota["pool"]) == (7, 3)


def test_put_answers_202_with_the_effective_quota_and_list_shows_records(client):
    quota = check(_put(client, "p1", loadbalancer=5, l7rule=10), 202)["quota"]
    assert quota == {**ALL_UNLIMITED, "loadbalancer": 5, "load_balancer": 5, "l7rule": 10}
    assert check(client.get(f"{URL}/p1"), 200)["quota"] == quota
    check(_put(client, "p2", listener=0), 202)
    listed = check(client.get(URL), 200)
    assert [q["project_id"] for q in listed["quotas"]] == ["p1", "p2"]
    first = listed["quotas"][0]
    assert (first["loadbalancer"], first["load_balancer"], first["listener"]) == (5, 5, None)
    assert check(client.get(f"{URL}?project_id=p2"), 200)["quotas"][0]["listener"] == 0


def test_put_merges_and_null_restores_the_default(client):
    check(_put(client, "p1", pool=2, member=3), 202)
    quota = check(_put(client, "p1", pool=None), 202)["quota"]
    assert (quota["pool"], quota["member"]) == (-1, 3)


def test_deprecated_names_are_accepted_and_the_current_name_wins(client):
    quota = check(_put(client, "p1", load_balancer=4, health_monitor=6), 202)["quota"]
    assert (quota["loadbalancer"], quota["healthmonitor"]) == (4, 6)
    quota = check(_put(client, "p1", loadbalancer=1, load_balancer=9), 202)["quota"]
    assert (quota["loadbalancer"], quota["load_balancer"]) == (1, 1)


@pytest.mark.parametrize(
    "quota, field",
    [
        ({"pool": -2}, "pool"),
        ({"pool": 2000000001}, "pool"),
        ({"pool": "5.5"}, "pool"),
        ({"pool": True}, "pool"),
        ({"pool": 1.5}, "pool"),
        ({"pools": 1}, "pools"),
    ],
)
def test_out_of_bounds_or_unknown_values_are_400(client, quota, field):
    text = fault(client.put(f"{URL}/p1", json={"quota": quota}), 400)
    assert f"field/attribute {field}" in text
    assert check(client.get(URL), 200)["quotas"] == []


def test_bounds_are_inclusive(client):
    quota = check(_put(client, "p1", pool=2000000000, member=-1, listener=0), 202)["quota"]
    assert (quota["pool"], quota["member"], quota["listener"]) == (2000000000, -1, 0)


def test_delete_answers_202_and_restores_defaults(client):
    check(_put(client, "p1", pool=1), 202)
    response = client.delete(f"{URL}/p1")
    assert response.status_code == 202 and not response.content
    assert check(client.get(f"{URL}/p1"), 200) == {"quota": ALL_UNLIMITED}
    assert check(client.get(URL), 200)["quotas"] == []
    assert "Quotas p1 not found." in fault(client.delete(f"{URL}/p1"), 404)


def test_too_long_project_id_is_400(client):
    fault(_put(client, "p" * 37, pool=1), 400)


def test_non_admins_read_their_own_quota_only(api, client):
    check(_put(client, "p1", pool=1), 202)
    check(_put(client, "p2", pool=2), 202)
    with api.client(**{"X-Roles": "member", "X-Project-Id": "p1"}) as member:
        assert check(member.get(f"{URL}/p1"), 200)["quota"]["pool"] == 1
        fault(member.get(f"{URL}/p2"), 403)
        assert [q["project_id"] for q in check(member.get(URL), 200)["quotas"]] == ["p1"]
        fault(_put(member, "p1", pool=100), 403)
        fault(member.delete(f"{URL}/p1"), 403)


# ---- enforcement ---------------------------------------------------------------------


def _exhausted(response, display):
    assert fault(response, 403) == f"Quota has been met for resources: {display}"


def test_every_object_type_is_limited_and_reset_lifts_the_limit(client):
    lb = create_lb(client)
    project = lb["project_id"]
    one_each = {
        "loadbalancer": 1,
        "listener": 1,
        "pool": 1,
        "member": 1,
        "healthmonitor": 1,
        "l7policy": 1,
        "l7rule": 1,
    }
    check(_put(client, project, **one_each), 202)

    _exhausted(
        client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": "private-subnet"}}),
        "Load Balancer",
    )
    listener = create_listener(client, lb["id"], "HTTP", 80)
    _exhausted(
        client.post(
            "/v2/lbaas/listeners",
            json={"listener": {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 81}},
        ),
        "Listener",
    )
    pool = create_pool(client, loadbalancer_id=lb["id"])
    _exhausted(
        client.post(
            "/v2/lbaas/pools",
            json={"pool": {"loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}},
        ),
        "Pool",
    )
    create_member(client, pool["id"], "192.0.2.1")
    _exhausted(
        client.post(
            f"/v2/lbaas/pools/{pool['id']}/members",
            json={"member": {"address": "192.0.2.2", "protocol_port": 80}},
        ),
        "Member",
    )
    create_healthmonitor(client, pool["id"])
    second_pool_quota = check(_put(client, project, pool=2), 202)["quota"]
    assert second_pool_quota["pool"] == 2
    other_pool = create_pool(client, loadbalancer_id=lb["id"])
    _exhausted(
        client.post(
            "/v2/lbaas/healthmonitors",
            json={
                "healthmonitor": {
                    "pool_id": other_pool["id"],
                    "type": "HTTP",
                    "delay": 5,
                    "timeout": 3,
                    "max_retries": 3,
                }
            },
        ),
        "Health Monitor",
    )
    policy = create_l7policy(client, listener["id"])
    _exhausted(
        client.post(
            "/v2/lbaas/l7policies", json={"l7policy": {"listener_id": listener["id"], "action": "REJECT"}}
        ),
        "L7 Policy",
    )
    create_l7rule(client, policy["id"])
    _exhausted(
        client.post(
            f"/v2/lbaas/l7policies/{policy['id']}/rules",
            json={"rule": {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/x"}},
        ),
        "L7 Rule",
    )

    # -1 is unlimited; deleting the record falls back to the (unlimited) defaults.
    check(_put(client, project, l7rule=-1), 202)
    create_l7rule(client, policy["id"], value="/y")
    assert client.delete(f"{URL}/{project}").status_code == 202
    create_l7policy(client, listener["id"])
    create_lb(client)


def test_inline_rules_count_against_the_rule_quota(client):
    lb = create_lb(client)
    listener = create_listener(client, lb["id"], "HTTP", 80)
    check(_put(client, lb["project_id"], l7rule=2), 202)
    rules = [{"type": "PATH", "compare_type": "EQUAL_TO", "value": f"/{i}"} for i in range(3)]
    _exhausted(
        client.post(
            "/v2/lbaas/l7policies",
            json={"l7policy": {"listener_id": listener["id"], "action": "REJECT", "rules": rules}},
        ),
        "L7 Rule",
    )
    assert check(client.get("/v2/lbaas/l7policies"), 200)["l7policies"] == []
    create_l7policy(client, listener["id"], rules=rules[:2])


def test_zero_forbids_and_deleted_objects_free_their_quota(client):
    lb = create_lb(client)
    listener = create_listener(client, lb["id"], "HTTP", 80)
    check(_put(client, lb["project_id"], l7policy=0), 202)
    _exhausted(
        client.post(
            "/v2/lbaas/l7policies", json={"l7policy": {"listener_id": listener["id"], "action": "REJECT"}}
        ),
        "L7 Policy",
    )
    check(_put(client, lb["project_id"], l7policy=1), 202)
    policy = create_l7policy(client, listener["id"])
    assert client.delete(f"/v2/lbaas/l7policies/{policy['id']}").status_code == 204
    create_l7policy(client, listener["id"])
