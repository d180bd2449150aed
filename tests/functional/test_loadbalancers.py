"""Load balancers over HTTP: CRUD, statuses, validation, cascade, prefixes."""

from __future__ import annotations

import uuid

import pytest

from tests.support.objects import check, create_lb, create_listener, fault, show


def test_create_answers_201_pending_create_offline_with_a_vip(client):
    lb = create_lb(client, name="lb1", description="first", tags=["a", "b"])
    assert lb["provisioning_status"] == "PENDING_CREATE"
    assert lb["operating_status"] == "OFFLINE"
    assert lb["vip_address"].startswith("127.2.")
    assert lb["project_id"] == lb["tenant_id"]
    assert lb["tags"] == ["a", "b"]
    assert lb["provider"] == "noop_driver"
    for key in (
        "vip_port_id",
        "vip_network_id",
        "flavor_id",
        "availability_zone",
        "vip_qos_policy_id",
        "created_at",
        "updated_at",
        "listeners",
        "pools",
    ):
        assert key in lb


def test_noop_provider_completes_create(client):
    lb = create_lb(client)
    assert (
        show(client, f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer")["provisioning_status"] == "ACTIVE"
    )


def test_vip_addresses_are_not_reused_and_requested_address_is_checked(client):
    first = create_lb(client)
    second = create_lb(client)
    assert first["vip_address"] != second["vip_address"]
    taken = client.post(
        "/v2/lbaas/loadbalancers",
        json={"loadbalancer": {"vip_subnet_id": "private-subnet", "vip_address": first["vip_address"]}},
    )
    assert "already in use" in fault(taken, 409)
    outside = client.post(
        "/v2/lbaas/loadbalancers",
        json={"loadbalancer": {"vip_subnet_id": "private-subnet", "vip_address": "10.9.9.9"}},
    )
    assert "not in subnet" in fault(outside, 400)


def test_subnet_by_id_and_network_are_accepted(client):
    lb = create_lb(client)
    by_id = create_lb(client, vip_subnet_id=lb["vip_subnet_id"])
    assert by_id["vip_subnet_id"] == lb["vip_subnet_id"]
    by_network = client.post(
        "/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_network_id": lb["vip_network_id"]}}
    )
    assert check(by_network, 201)["loadbalancer"]["vip_subnet_id"] == lb["vip_subnet_id"]


def test_unknown_subnet_and_missing_vip_are_400(client):
    unknown = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": "nope"}})
    assert "Subnet nope not found" in fault(unknown, 400)
    missing = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"name": "x"}})
    assert "VIP must contain one of" in fault(missing, 400)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"vip_subnet_id": "private-subnet", "admin_state_up": "yes"}, "admin_state_up"),
        ({"vip_subnet_id": "private-subnet", "name": 5}, "name"),
        ({"vip_subnet_id": "private-subnet", "name": "x" * 256}, "name"),
        ({"vip_subnet_id": "private-subnet", "flavor_id": "not-a-uuid"}, "flavor_id"),
        ({"vip_subnet_id": "private-subnet", "vip_address": "1.2.3"}, "vip_address"),
        ({"vip_subnet_id": "private-subnet", "surprise": True}, "surprise"),
        ({"vip_subnet_id": "private-subnet", "tags": "notalist"}, "tags"),
        ({"vip_subnet_id": "private-subnet", "name": "a\nb"}, "name"),
    ],
)
def test_invalid_fields_answer_400_naming_the_field(client, body, field):
    text = fault(client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body}), 400)
    assert f"field/attribute {field}" in text


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'{"lb": {}}', b'"x"', b""])
def test_malformed_bodies_answer_400(client, raw):
    response = client.post(
        "/v2/lbaas/loadbalancers", content=raw, headers={"Content-Type": "application/json"}
    )
    fault(response, 400)


def test_unknown_provider_is_400(client):
    response = client.post(
        "/v2/lbaas/loadbalancers",
        json={"loadbalancer": {"vip_subnet_id": "private-subnet", "provider": "f5"}},
    )
    assert fault(response, 400) == "Provider 'f5' is not enabled."


def test_show_unknown_and_bad_ids_answer_404(client):
    missing = str(uuid.uuid4())
    assert (
        fault(client.get(f"/v2/lbaas/loadbalancers/{missing}"), 404) == f"Load Balancer {missing} not found."
    )
    fault(client.get("/v2/lbaas/loadbalancers/not-a-uuid"), 404)
    fault(client.get("/v2/lbaas/nothing-here"), 404)


def test_wrong_method_answers_405(client):
    fault(client.patch("/v2/lbaas/loadbalancers"), 405)


def test_update_changes_fields_and_keeps_others(client):
    lb = create_lb(client, name="before", description="keep")
    updated = check(
        client.put(
            f"/v2/lbaas/loadbalancers/{lb['id']}", json={"loadbalancer": {"name": "after", "tags": ["t"]}}
        ),
        200,
    )
    assert updated["loadbalancer"]["name"] == "after"
    assert updated["loadbalancer"]["provisioning_status"] == "PENDING_UPDATE"
    stored = show(client, f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer")
    assert (stored["name"], stored["description"], stored["tags"]) == ("after", "keep", ["t"])
    assert stored["updated_at"] is not None


def test_immutable_fields_are_refused_on_update(client):
    lb = create_lb(client)
    response = client.put(
        f"/v2/lbaas/loadbalancers/{lb['id']}", json={"loadbalancer": {"vip_address": "127.2.0.99"}}
    )
    assert "vip_address" in fault(response, 400)


def test_writes_under_a_pending_lb_answer_409(api, client):
    lb = create_lb(client)
    # Hold the LB in PENDING_UPDATE as a provider that has not finished would.
    with api.db.transaction() as session:
        from ostia.db import models

        session.get(models.LoadBalancer, lb["id"]).provisioning_status = "PENDING_UPDATE"
    text = fault(
        client.post(
            "/v2/lbaas/listeners",
            json={"listener": {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}},
        ),
        409,
    )
    assert text == f"Load Balancer {lb['id']} is immutable and cannot be updated."
    update = client.put(f"/v2/lbaas/loadbalancers/{lb['id']}", json={"loadbalancer": {"name": "x"}})
    assert fault(update, 409) == f"Invalid state PENDING_UPDATE of loadbalancer resource {lb['id']}"
    fault(client.delete(f"/v2/lbaas/loadbalancers/{lb['id']}"), 409)


def test_delete_with_children_needs_cascade(client):
    lb = create_lb(client)
    listener = create_listener(client, lb["id"])
    response = client.delete(f"/v2/lbaas/loadbalancers/{lb['id']}")
    assert "it has children" in fault(response, 400)
    check(client.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=True"), 204)
    fault(client.get(f"/v2/lbaas/loadbalancers/{lb['id']}"), 404)
    fault(client.get(f"/v2/lbaas/listeners/{listener['id']}"), 404)
    assert check(client.get("/v2/lbaas/loadbalancers"), 200)["loadbalancers"] == []


def test_deleted_vip_address_can_be_allocated_again(client):
    lb = create_lb(client)
    check(client.delete(f"/v2/lbaas/loadbalancers/{lb['id']}"), 204)
    again = create_lb(client, vip_address=lb["vip_address"])
    assert again["vip_address"] == lb["vip_address"]


def test_failover_answers_202_and_needs_a_settled_lb(api, client):
    lb = create_lb(client)
    check(client.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover"), 202)
    assert (
        show(client, f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer")["provisioning_status"] == "ACTIVE"
    )


def test_status_tree_and_stats(client):
    lb = create_lb(client, name="tree")
    listener = create_listener(client, lb["id"], name="l1")
    tree = check(client.get(f"/v2/lbaas/loadbalancers/{lb['id']}/status"), 200)
    node = tree["statuses"]["loadbalancer"]
    assert node["id"] == lb["id"] and node["name"] == "tree"
    assert node["listeners"][0]["id"] == listener["id"]
    assert node["listeners"][0]["pools"] == []
    stats = check(client.get(f"/v2/lbaas/loadbalancers/{lb['id']}/stats"), 200)["stats"]
    assert stats == {
        "bytes_in": 0,
        "bytes_out": 0,
        "active_connections": 0,
        "total_connections": 0,
        "request_errors": 0,
    }


def test_v2_0_prefix_and_json_suffix_reach_the_same_objects(client):
    lb = create_lb(client)
    assert show(client, f"/v2.0/lbaas/loadbalancers/{lb['id']}", "loadbalancer")["id"] == lb["id"]
    assert check(client.get("/v2/lbaas/loadbalancers.json"), 200)["loadbalancers"][0]["id"] == lb["id"]


def test_project_comes_from_body_then_header_then_default(client):
    assert create_lb(client, project_id="p-body")["project_id"] == "p-body"
    headed = client.post(
        "/v2/lbaas/loadbalancers",
        headers={"X-Project-Id": "p-head"},
        json={"loadbalancer": {"vip_subnet_id": "private-subnet"}},
    )
    assert check(headed, 201)["loadbalancer"]["project_id"] == "p-head"
    assert create_lb(client)["project_id"] == "admin"


def test_quota_exceeded_answers_403(api, client):
    api.conf.set_override("default_load_balancer_quota", 1, "quotas")
    create_lb(client, project_id="small")
    response = client.post(
        "/v2/lbaas/loadbalancers",
        json={"loadbalancer": {"vip_subnet_id": "private-subnet", "project_id": "small"}},
    )
    assert fault(response, 403) == "Quota has been met for resources: Load Balancer"


def test_version_document_and_healthcheck(client):
    versions = check(client.get("/"), 200)["versions"]
    assert versions[0]["id"] == "v2.0" and versions[-1]["status"] == "CURRENT"
    assert all(v["status"] == "SUPPORTED" for v in versions[:-1])
    assert versions[-1]["links"][0]["href"].endswith("/v2")
    assert client.get("/healthcheck").status_code == 200


def test_non_json_accept_answers_406(client):
    response = client.get("/v2/lbaas/loadbalancers", headers={"Accept": "text/html"})
    assert response.status_code == 406
    # Upstream's shape for this one answer, with the id the response header carries.
    (error,) = response.json()["errors"]
    assert error["status"] == 406 and error["title"] == "Not Acceptable"
    assert error["request_id"] == response.headers["x-openstack-request-id"]


def test_oversized_body_answers_413(client):
    body = {"loadbalancer": {"vip_subnet_id": "private-subnet", "description": "x" * 200000}}
    fault(client.post("/v2/lbaas/loadbalancers", json=body), 413)


def test_oversized_chunked_body_answers_413_while_it_is_read(client):
    def chunks():  # no Content-Length: the limit applies as the body arrives
        yield b'{"loadbalancer": {"vip_subnet_id": "private-subnet", "description": "'
        for _ in range(20):
            yield b"x" * 10_000
        yield b'"}}'

    response = client.post(
        "/v2/lbaas/loadbalancers", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert fault(response, 413) == "Request is too large."
    assert client.get("/v2/lbaas/loadbalancers").json()["loadbalancers"] == []
