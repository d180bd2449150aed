"""Members over HTTP: CRUD under a pool, limits, addresses, statuses and batch update."""

from __future__ import annotations

import uuid

import pytest

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
    show,
    statuses,
)


@pytest.fixture
def pool(client):
    lb = create_lb(client)
    return create_pool(client, loadbalancer_id=lb["id"])


def _members(pool_id):
    return f"/v2/lbaas/pools/{pool_id}/members"


def _post(client, pool_id, **body):
    return client.post(_members(pool_id), json={"member": body})


def _batch(client, pool_id, members, query=""):
    return client.put(_members(pool_id) + query, json={"members": members})


def _addresses(client, pool_id):
    members = check(client.get(_members(pool_id)), 200)["members"]
    return sorted((m["address"], m["protocol_port"], m["weight"]) for m in members)


def test_crud(client, pool):
    member = create_member(client, pool["id"], address="192.0.2.10", port=8080, name="web1", tags=["a"])
    assert (member["provisioning_status"], member["operating_status"]) == ("PENDING_CREATE", "NO_MONITOR")
    assert (member["weight"], member["backup"], member["admin_state_up"]) == (1, False, True)
    assert (member["vnic_type"], member["subnet_id"], member["monitor_address"]) == ("normal", None, None)
    assert member["project_id"] == member["tenant_id"] == pool["project_id"]
    assert "description" not in member
    path = f"{_members(pool['id'])}/{member['id']}"
    assert show(client, path, "member")["provisioning_status"] == "ACTIVE"
    assert show(client, f"/v2/lbaas/pools/{pool['id']}", "pool")["members"] == [{"id": member["id"]}]
    updated = check(
        client.put(
            path,
            json={
                "member": {
                    "weight": 0,
                    "backup": True,
                    "monitor_address": "192.0.2.99",
                    "monitor_port": 9000,
                    "name": "renamed",
                }
            },
        ),
        200,
    )["member"]
    assert updated["provisioning_status"] == "PENDING_UPDATE"
    assert (updated["weight"], updated["backup"], updated["monitor_port"]) == (0, True, 9000)
    reset = check(client.put(path, json={"member": {"weight": None, "backup": None}}), 200)["member"]
    assert (reset["weight"], reset["backup"], reset["name"]) == (1, False, "renamed")
    assert "address" in fault(client.put(path, json={"member": {"address": "192.0.2.1"}}), 400)
    check(client.delete(path), 204)
    assert fault(client.get(path), 404) == f"Member {member['id']} not found."
    assert check(client.get(_members(pool["id"])), 200)["members"] == []


def test_member_of_another_pool_or_unknown_pool_is_not_found(client, pool):
    other = create_pool(client, loadbalancer_id=pool["loadbalancers"][0]["id"])
    member = create_member(client, other["id"])
    wrong = f"{_members(pool['id'])}/{member['id']}"
    for response in (
        client.get(wrong),
        client.put(wrong, json={"member": {"weight": 2}}),
        client.delete(wrong),
    ):
        assert fault(response, 404) == f"Member {member['id']} not found."
    missing = str(uuid.uuid4())
    assert fault(client.get(_members(missing)), 404) == f"Pool {missing} not found."
    assert (
        fault(_post(client, missing, address="192.0.2.1", protocol_port=80), 404)
        == f"Pool {missing} not found."
    )


@pytest.mark.parametrize(
    "field, good, bad",
    [
        ("weight", 0, -1),
        ("weight", 256, 257),
        ("protocol_port", 1, 0),
        ("protocol_port", 65535, 65536),
        ("monitor_port", 1, 0),
        ("monitor_port", 65535, 65536),
        ("name", "n" * 255, "n" * 256),
        ("address", "2001:db8::1", "192.0.2.300"),
        ("monitor_address", "192.0.2.5", "not-an-ip"),
        ("backup", True, "yes"),
    ],
)
def test_fields_at_their_limits(client, pool, field, good, bad):
    body = {"address": "192.0.2.20", "protocol_port": 80}
    check(_post(client, pool["id"], **{**body, field: good}), 201)
    response = (
        _post(client, pool["id"], **{**body, "protocol_port": 81, field: bad})
        if field != "protocol_port"
        else _post(client, pool["id"], **{**body, field: bad})
    )
    assert f"field/attribute {field}" in fault(response, 400)


def test_reserved_address_and_duplicates_are_refused(client, pool):
    reserved = _post(client, pool["id"], address="169.254.169.254", protocol_port=80)
    assert fault(reserved, 400) == "169.254.169.254 is not a valid option for member address"
    mapped = _post(client, pool["id"], address="::ffff:169.254.169.254", protocol_port=80)
    assert "is not a valid option for member address" in fault(mapped, 400)
    create_member(client, pool["id"], address="192.0.2.10", port=80)
    duplicate = _post(client, pool["id"], address="192.0.2.10", protocol_port=80)
    assert (
        fault(duplicate, 409)
        == "Another member on this pool is already using ip 192.0.2.10 on protocol_port 80"
    )
    create_member(client, pool["id"], address="192.0.2.10", port=81)


def test_subnet_by_name_or_id_and_unknown_subnet(client, pool):
    by_name = create_member(client, pool["id"], subnet_id="private-subnet")
    uuid.UUID(by_name["subnet_id"])
    by_id = create_member(client, pool["id"], address="192.0.2.11", subnet_id=by_name["subnet_id"])
    assert by_id["subnet_id"] == by_name["subnet_id"]
    unknown = _post(client, pool["id"], address="192.0.2.12", protocol_port=80, subnet_id="nowhere")
    assert fault(unknown, 404) == "Subnet nowhere not found."


def test_sriov_needs_a_flavor_that_allows_it(client, pool):
    response = _post(client, pool["id"], address="192.0.2.10", protocol_port=80, request_sriov=True)
    assert "does not allow SR-IOV member ports" in fault(response, 400)


def test_operating_status_is_offline_when_the_pool_is_monitored(client, pool):
    create_healthmonitor(client, pool["id"])
    assert create_member(client, pool["id"])["operating_status"] == "OFFLINE"


def test_changes_lock_lb_pool_and_listener_and_need_an_active_pool(api, client):
    lb = create_held_lb(api, client)
    listener = create_listener(client, lb["id"])
    settle(api, lb["id"])
    pool = create_pool(client, listener_id=listener["id"])
    assert (
        fault(_post(client, pool["id"], address="192.0.2.1", protocol_port=80), 409)
        == f"Pool {pool['id']} is immutable and cannot be updated."
    )
    settle(api, lb["id"])
    member = create_member(client, pool["id"])
    paths = (
        f"loadbalancers/{lb['id']}",
        f"listeners/{listener['id']}",
        f"pools/{pool['id']}",
        f"pools/{pool['id']}/members/{member['id']}",
    )
    assert statuses(client, *paths) == ["PENDING_UPDATE"] * 3 + ["PENDING_CREATE"]
    settle(api, lb["id"])
    check(client.delete(f"/v2/lbaas/{paths[3]}"), 204)
    assert statuses(client, *paths) == ["PENDING_UPDATE"] * 3 + ["PENDING_DELETE"]
    settle(api, lb["id"])
    assert statuses(client, *paths[:3]) == ["ACTIVE"] * 3
    fault(client.get(f"/v2/lbaas/{paths[3]}"), 404)


def test_batch_update_adds_changes_and_deletes_in_one_call(client, pool):
    keep = create_member(client, pool["id"], address="192.0.2.1", port=80, name="keep")
    create_member(client, pool["id"], address="192.0.2.2", port=80)
    response = _batch(
        client,
        pool["id"],
        [
            {"address": "192.0.2.1", "protocol_port": 80, "weight": 5, "name": "keep"},
            {"address": "192.0.2.3", "protocol_port": 80},
        ],
    )
    assert response.status_code == 202 and response.content == b""
    assert _addresses(client, pool["id"]) == [("192.0.2.1", 80, 5), ("192.0.2.3", 80, 1)]
    # The matched member is updated in place, not replaced.
    assert show(client, f"{_members(pool['id'])}/{keep['id']}", "member")["weight"] == 5


def test_batch_update_additive_only_keeps_unlisted_members(client, pool):
    create_member(client, pool["id"], address="192.0.2.1", port=80)
    check(
        _batch(client, pool["id"], [{"address": "192.0.2.9", "protocol_port": 80}], "?additive_only=true"),
        202,
    )
    assert _addresses(client, pool["id"]) == [("192.0.2.1", 80, 1), ("192.0.2.9", 80, 1)]
    check(_batch(client, pool["id"], [], "?additive_only=True"), 202)
    assert len(_addresses(client, pool["id"])) == 2
    check(_batch(client, pool["id"], []), 202)
    assert _addresses(client, pool["id"]) == []


def test_batch_update_refuses_duplicates_and_bad_members_as_a_whole(client, pool):
    create_member(client, pool["id"], address="192.0.2.1", port=80)
    twice = _batch(
        client,
        pool["id"],
        [{"address": "192.0.2.5", "protocol_port": 80}, {"address": "192.0.2.5", "protocol_port": 80}],
    )
    assert "Member must be updated only once in the same request." in fault(twice, 400)
    bad = _batch(
        client,
        pool["id"],
        [
            {"address": "192.0.2.6", "protocol_port": 80},
            {"address": "192.0.2.7", "protocol_port": 80, "weight": 300},
        ],
    )
    assert "members.1.weight" in fault(bad, 400)
    reserved = _batch(client, pool["id"], [{"address": "169.254.169.254", "protocol_port": 80}])
    fault(reserved, 400)
    assert "members" in fault(client.put(_members(pool["id"]), json={"members": {}}), 400)
    assert _addresses(client, pool["id"]) == [("192.0.2.1", 80, 1)]


def test_batch_update_checks_quota_on_net_new_members(api, client, pool):
    api.conf.set_override("default_member_quota", 2, "quotas")
    create_member(client, pool["id"], address="192.0.2.1", port=80)
    create_member(client, pool["id"], address="192.0.2.2", port=80)
    # Two out, two in: the project stays at its quota of two.
    check(
        _batch(
            client,
            pool["id"],
            [{"address": "192.0.2.3", "protocol_port": 80}, {"address": "192.0.2.4", "protocol_port": 80}],
        ),
        202,
    )
    over = _batch(client, pool["id"], [{"address": "192.0.2.5", "protocol_port": 80}], "?additive_only=true")
    assert fault(over, 403) == "Quota has been met for resources: Member"


def test_batch_of_a_hundred_members_is_one_transaction_and_one_notification(api, client):
    lb = create_held_lb(api, client)
    pool = create_pool(client, loadbalancer_id=lb["id"])
    settle(api, lb["id"])
    woken: list[str] = []
    api.app.state.services.providers.wake = woken.append
    members = [{"address": f"192.0.2.{i}", "protocol_port": 80} for i in range(1, 101)]
    check(_batch(client, pool["id"], members), 202)
    assert woken == [lb["id"]]
    listed = check(client.get(_members(pool["id"]) + "?limit=200"), 200)["members"]
    assert len(listed) == 100
    assert {m["provisioning_status"] for m in listed} == {"PENDING_CREATE"}
    assert statuses(client, f"loadbalancers/{lb['id']}", f"pools/{pool['id']}") == [
        "PENDING_UPDATE",
        "PENDING_UPDATE",
    ]
    assert fault(_batch(client, pool["id"], members[:1]), 409).endswith("is immutable and cannot be updated.")


def test_list_is_scoped_to_the_pool_and_uses_the_shared_layer(client, pool):
    other = create_pool(client, loadbalancer_id=pool["loadbalancers"][0]["id"])
    create_member(client, other["id"], address="198.51.100.1", port=80)
    for address, port in (("192.0.2.2", 80), ("192.0.2.1", 81), ("192.0.2.3", 80)):
        create_member(client, pool["id"], address=address, port=port)
    path = _members(pool["id"])
    by_address = check(client.get(path + "?sort=address:desc"), 200)["members"]
    assert [m["address"] for m in by_address] == ["192.0.2.3", "192.0.2.2", "192.0.2.1"]
    on_80 = check(client.get(path + "?protocol_port=80&sort=address"), 200)["members"]
    assert [m["address"] for m in on_80] == ["192.0.2.2", "192.0.2.3"]
    first = check(client.get(path + "?limit=2&sort=address"), 200)
    next_link = next(link["href"] for link in first["members_links"] if link["rel"] == "next")
    assert [m["address"] for m in check(client.get(next_link), 200)["members"]] == ["192.0.2.3"]
    fields = check(client.get(path + "?fields=address"), 200)["members"]
    assert all(set(m) == {"address"} for m in fields)
    assert fault(client.get(path + "?pool_id=x"), 400)
