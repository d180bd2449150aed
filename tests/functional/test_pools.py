"""Pools over HTTP: create on an LB or a listener, protocol rules, persistence, TLS,
updates, deletes and listing through the shared collection layer."""

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

TLS_DEFAULT_VERSIONS = ["TLSv1.2", "TLSv1.3"]


@pytest.fixture
def lb(client):
    return create_lb(client)


def _post(client, **body):
    return client.post("/v2/lbaas/pools", json={"pool": body})


def _put(client, pool_id, **body):
    return client.put(f"/v2/lbaas/pools/{pool_id}", json={"pool": body})


def test_create_on_a_load_balancer_answers_every_field(client, lb):
    pool = create_pool(client, loadbalancer_id=lb["id"], name="web", description="d", tags=["x"])
    assert (pool["provisioning_status"], pool["operating_status"]) == ("PENDING_CREATE", "OFFLINE")
    assert pool["loadbalancers"] == [{"id": lb["id"]}]
    assert pool["listeners"] == [] and pool["members"] == []
    assert pool["healthmonitor_id"] is None and pool["session_persistence"] is None
    assert pool["tls_enabled"] is False and pool["tls_versions"] is None
    assert pool["project_id"] == pool["tenant_id"] == lb["project_id"]
    assert (pool["name"], pool["description"], pool["tags"]) == ("web", "d", ["x"])
    for key in (
        "tls_container_ref",
        "ca_tls_container_ref",
        "crl_container_ref",
        "tls_ciphers",
        "alpn_protocols",
        "created_at",
        "updated_at",
        "admin_state_up",
    ):
        assert key in pool
    assert show(client, f"/v2/lbaas/pools/{pool['id']}", "pool")["provisioning_status"] == "ACTIVE"
    assert show(client, f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer")["pools"] == [
        {"id": pool["id"]}
    ]


def test_create_on_a_listener_makes_it_the_default_pool_once(client, lb):
    listener = create_listener(client, lb["id"])
    pool = create_pool(client, listener_id=listener["id"])
    assert pool["loadbalancers"] == [{"id": lb["id"]}]
    assert pool["listeners"] == [{"id": listener["id"]}]
    assert show(client, f"/v2/lbaas/listeners/{listener['id']}", "listener")["default_pool_id"] == pool["id"]
    again = _post(client, listener_id=listener["id"], protocol="HTTP", lb_algorithm="ROUND_ROBIN")
    assert fault(again, 409) == "This listener already has a default pool"


def test_load_balancer_or_listener_is_required(client):
    response = _post(client, protocol="HTTP", lb_algorithm="ROUND_ROBIN")
    assert (
        fault(response, 400)
        == "Validation failure: Must provide at least one of: loadbalancer_id, listener_id"
    )
    missing = str(uuid.uuid4())
    assert (
        fault(_post(client, loadbalancer_id=missing, protocol="HTTP", lb_algorithm="ROUND_ROBIN"), 404)
        == f"Load Balancer {missing} not found."
    )
    assert (
        fault(_post(client, listener_id=missing, protocol="HTTP", lb_algorithm="ROUND_ROBIN"), 404)
        == f"Listener {missing} not found."
    )


LISTENER_POOL_MATRIX = {
    "HTTP": {"HTTP", "PROXY", "PROXYV2"},
    "HTTPS": {"HTTPS", "PROXY", "PROXYV2", "TCP"},
    "TCP": {"HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP"},
    "TERMINATED_HTTPS": {"HTTP", "PROXY", "PROXYV2"},
    "UDP": {"UDP"},
    "SCTP": {"SCTP"},
    "PROMETHEUS": set(),
}
POOL_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "PROXY", "PROXYV2", "UDP", "SCTP")


def test_listener_and_pool_protocols_follow_the_compatibility_matrix(client, lb):
    wrong = []
    for port, (listener_protocol, allowed) in enumerate(LISTENER_POOL_MATRIX.items(), 100):
        extra = {"default_tls_container_ref": "cert"} if listener_protocol == "TERMINATED_HTTPS" else {}
        listener = create_listener(client, lb["id"], protocol=listener_protocol, port=port, **extra)
        for pool_protocol in POOL_PROTOCOLS:
            response = _post(
                client, listener_id=listener["id"], protocol=pool_protocol, lb_algorithm="ROUND_ROBIN"
            )
            expected = 201 if pool_protocol in allowed else 400
            if response.status_code != expected:
                wrong.append((listener_protocol, pool_protocol, response.text))
            elif expected == 201:
                check(client.delete(f"/v2/lbaas/pools/{response.json()['pool']['id']}"), 204)
            elif listener_protocol == "PROMETHEUS":
                assert "PROMETHEUS listeners cannot have child objects" in response.text
            else:
                assert (
                    f"The pool protocol '{pool_protocol}' is invalid while the listener "
                    f"protocol is '{listener_protocol}'."
                ) in response.text
    assert wrong == []


def test_lb_algorithm_is_the_providers_to_accept(api, client, lb):
    check(_post(client, loadbalancer_id=lb["id"], protocol="TCP", lb_algorithm="SOURCE_IP_PORT"), 201)
    amphora_lb = create_held_lb(api, client)
    refused = _post(client, loadbalancer_id=amphora_lb["id"], protocol="TCP", lb_algorithm="SOURCE_IP_PORT")
    assert "does not support SOURCE_IP_PORT" in fault(refused, 501)
    assert "lb_algorithm" in fault(
        _post(client, loadbalancer_id=lb["id"], protocol="TCP", lb_algorithm="RANDOM"), 400
    )


@pytest.mark.parametrize(
    "field, good, bad",
    [
        ("name", "n" * 255, "n" * 256),
        ("description", "d" * 255, "d" * 256),
        ("protocol", "PROXYV2", "FTP"),
        ("admin_state_up", False, "false"),
        ("tags", ["t" * 255], ["t" * 256]),
    ],
)
def test_fields_at_their_limits(client, lb, field, good, bad):
    body = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    check(_post(client, **{**body, field: good}), 201)
    assert f"field/attribute {field}" in fault(_post(client, **{**body, field: bad}), 400)


def test_unknown_attributes_and_update_only_fields_are_refused(client, lb):
    base = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    assert "surprise" in fault(_post(client, **base, surprise=1), 400)
    pool = create_pool(client, loadbalancer_id=lb["id"])
    assert "protocol" in fault(_put(client, pool["id"], protocol="TCP"), 400)
    assert "loadbalancer_id" in fault(_put(client, pool["id"], loadbalancer_id=lb["id"]), 400)


PERSISTENCE_CASES = [
    ("HTTP", {"type": "SOURCE_IP"}, None),
    ("HTTP", {"type": "HTTP_COOKIE"}, None),
    ("HTTP", {"type": "APP_COOKIE", "cookie_name": "JSESSIONID"}, None),
    ("HTTP", {"type": "APP_COOKIE"}, 'must be specified when using the "APP_COOKIE"'),
    ("HTTP", {"type": "HTTP_COOKIE", "cookie_name": "c"}, "can only be specified with"),
    ("HTTP", {"type": "APP_COOKIE", "cookie_name": "a b"}, 'Supplied "cookie_name" is invalid'),
    ("HTTP", {"type": "APP_COOKIE", "cookie_name": "a;b"}, 'Supplied "cookie_name" is invalid'),
    ("HTTP", {"type": "SOURCE_IP", "persistence_timeout": 10}, "only for UDP and SCTP"),
    ("HTTP", {"type": "NONE"}, "session_persistence.type"),
    ("HTTP", {"cookie_name": "c"}, "session_persistence.type"),
    (
        "UDP",
        {"type": "SOURCE_IP", "persistence_timeout": 10, "persistence_granularity": "255.255.255.0"},
        None,
    ),
    ("UDP", {"type": "SOURCE_IP", "cookie_name": "c"}, "only accepts: type"),
    ("SCTP", {"type": "HTTP_COOKIE"}, "not supported for UDP/SCTP protocol pools"),
    (
        "UDP",
        {"type": "SOURCE_IP", "persistence_granularity": "nope"},
        "session_persistence.persistence_granularity",
    ),
]


def test_session_persistence_rules(client, lb):
    wrong = []
    for protocol, persistence, error in PERSISTENCE_CASES:
        response = _post(
            client,
            loadbalancer_id=lb["id"],
            protocol=protocol,
            lb_algorithm="ROUND_ROBIN",
            session_persistence=persistence,
        )
        if error is None and response.status_code == 201:
            stored = response.json()["pool"]["session_persistence"]
            assert {k: v for k, v in stored.items() if v is not None} == persistence
        elif error is None or response.status_code != 400 or error not in response.json()["faultstring"]:
            wrong.append((protocol, persistence, response.status_code, response.text))
    assert wrong == []


def test_session_persistence_update_keeps_type_and_null_removes(client, lb):
    pool = create_pool(
        client, loadbalancer_id=lb["id"], session_persistence={"type": "APP_COOKIE", "cookie_name": "a"}
    )
    changed = check(_put(client, pool["id"], session_persistence={"cookie_name": "b"}), 200)
    assert changed["pool"]["session_persistence"]["type"] == "APP_COOKIE"
    assert changed["pool"]["session_persistence"]["cookie_name"] == "b"
    switched = check(_put(client, pool["id"], session_persistence={"type": "SOURCE_IP"}), 200)
    assert switched["pool"]["session_persistence"]["cookie_name"] is None
    check(_put(client, pool["id"], session_persistence=None), 200)
    assert show(client, f"/v2/lbaas/pools/{pool['id']}", "pool")["session_persistence"] is None
    bad = _put(client, pool["id"], session_persistence={"cookie_name": "c"})
    assert "session_persistence.type" in fault(bad, 400)


def test_backend_tls_takes_defaults_and_validates_like_listeners(client, lb):
    pool = create_pool(client, loadbalancer_id=lb["id"], tls_enabled=True)
    assert pool["tls_versions"] == TLS_DEFAULT_VERSIONS
    assert pool["alpn_protocols"] == ["h2", "http/1.1", "http/1.0"]
    assert pool["tls_ciphers"].startswith("TLS_AES_128_GCM_SHA256:")
    narrowed = check(
        _put(client, pool["id"], tls_versions=["TLSv1.3"], tls_ciphers="ECDHE-RSA-AES128-GCM-SHA256"), 200
    )["pool"]
    assert narrowed["tls_versions"] == ["TLSv1.3"]
    restored = check(_put(client, pool["id"], tls_versions=None, tls_ciphers=None), 200)["pool"]
    assert restored["tls_versions"] == TLS_DEFAULT_VERSIONS
    assert restored["tls_ciphers"] == pool["tls_ciphers"]
    base = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    assert "tls_versions" in fault(_post(client, **base, tls_versions=[]), 400)
    assert "tls_versions" in fault(_post(client, **base, tls_versions=["SSLv3"]), 400)
    assert "alpn_protocols" in fault(_post(client, **base, alpn_protocols=["spdy"]), 400)
    assert "tls_ciphers" in fault(_post(client, **base, tls_ciphers="AES;rm -rf"), 400)
    assert "CA certificate reference is required" in fault(
        _post(client, **base, crl_container_ref="crl"), 400
    )


def test_tls_turned_on_by_update_gets_defaults(client, lb):
    pool = create_pool(client, loadbalancer_id=lb["id"])
    updated = check(_put(client, pool["id"], tls_enabled=True), 200)["pool"]
    assert updated["tls_versions"] == TLS_DEFAULT_VERSIONS


def test_ca_cannot_be_removed_while_a_crl_is_set(client, lb):
    pool = create_pool(
        client, loadbalancer_id=lb["id"], tls_enabled=True, ca_tls_container_ref="ca", crl_container_ref="crl"
    )
    response = _put(client, pool["id"], ca_tls_container_ref=None)
    assert "A CA reference cannot be removed" in fault(response, 400)
    check(_put(client, pool["id"], ca_tls_container_ref=None, crl_container_ref=None), 200)


def test_update_changes_fields_and_keeps_others(client, lb):
    pool = create_pool(client, loadbalancer_id=lb["id"], name="a", description="keep")
    updated = check(
        _put(
            client, pool["id"], name="b", lb_algorithm="LEAST_CONNECTIONS", admin_state_up=False, tags=["t"]
        ),
        200,
    )["pool"]
    assert updated["provisioning_status"] == "PENDING_UPDATE"
    stored = show(client, f"/v2/lbaas/pools/{pool['id']}", "pool")
    assert (
        stored["name"],
        stored["description"],
        stored["lb_algorithm"],
        stored["admin_state_up"],
        stored["tags"],
    ) == ("b", "keep", "LEAST_CONNECTIONS", False, ["t"])
    assert stored["updated_at"] is not None and stored["provisioning_status"] == "ACTIVE"


def test_changes_put_the_lb_and_listener_in_pending_update(api, client):
    lb = create_held_lb(api, client)
    listener = create_listener(client, lb["id"])
    settle(api, lb["id"])
    pool = create_pool(client, listener_id=listener["id"])
    paths = (f"loadbalancers/{lb['id']}", f"listeners/{listener['id']}", f"pools/{pool['id']}")
    assert statuses(client, *paths) == ["PENDING_UPDATE", "PENDING_UPDATE", "PENDING_CREATE"]
    assert "is immutable" in fault(_put(client, pool["id"], name="x"), 409)
    settle(api, lb["id"])
    check(_put(client, pool["id"], name="x"), 200)
    assert statuses(client, *paths) == ["PENDING_UPDATE", "PENDING_UPDATE", "PENDING_UPDATE"]
    settle(api, lb["id"])
    check(client.delete(f"/v2/lbaas/pools/{pool['id']}"), 204)
    assert statuses(client, *paths) == ["PENDING_UPDATE", "PENDING_UPDATE", "PENDING_DELETE"]
    settle(api, lb["id"])
    assert statuses(client, *paths[:2]) == ["ACTIVE", "ACTIVE"]
    assert show(client, f"/v2/lbaas/listeners/{listener['id']}", "listener")["default_pool_id"] is None


def test_delete_takes_members_and_monitor_with_it(client, lb):
    pool = create_pool(client, loadbalancer_id=lb["id"])
    member = create_member(client, pool["id"])
    monitor = create_healthmonitor(client, pool["id"])
    check(client.delete(f"/v2/lbaas/pools/{pool['id']}"), 204)
    assert fault(client.get(f"/v2/lbaas/pools/{pool['id']}"), 404) == f"Pool {pool['id']} not found."
    fault(client.get(f"/v2/lbaas/pools/{pool['id']}/members/{member['id']}"), 404)
    fault(client.get(f"/v2/lbaas/healthmonitors/{monitor['id']}"), 404)
    assert check(client.get("/v2/lbaas/healthmonitors"), 200)["healthmonitors"] == []
    fault(client.delete(f"/v2/lbaas/pools/{pool['id']}"), 404)


def test_delete_is_refused_while_an_l7_policy_redirects_to_the_pool(client, lb):
    listener = create_listener(client, lb["id"])
    pool = create_pool(client, loadbalancer_id=lb["id"])
    policy = check(
        client.post(
            "/v2/lbaas/l7policies",
            json={
                "l7policy": {
                    "listener_id": listener["id"],
                    "action": "REDIRECT_TO_POOL",
                    "redirect_pool_id": pool["id"],
                }
            },
        ),
        201,
    )["l7policy"]
    assert show(client, f"/v2/lbaas/pools/{pool['id']}", "pool")["listeners"] == [{"id": listener["id"]}]
    assert (
        fault(client.delete(f"/v2/lbaas/pools/{pool['id']}"), 409)
        == f"Pool {pool['id']} is in use by L7 policy {policy['id']}"
    )


def test_list_filters_sorts_and_pages_through_the_shared_layer(client, lb):
    other = create_lb(client)
    for name in ("b", "a", "c"):
        create_pool(client, loadbalancer_id=lb["id"], name=name)
    create_pool(client, loadbalancer_id=other["id"], name="z", protocol="TCP")
    mine = check(client.get(f"/v2/lbaas/pools?loadbalancer_id={lb['id']}&sort=name:desc"), 200)["pools"]
    assert [p["name"] for p in mine] == ["c", "b", "a"]
    assert [p["name"] for p in check(client.get("/v2/lbaas/pools?protocol=TCP"), 200)["pools"]] == ["z"]
    first = check(client.get("/v2/lbaas/pools?limit=2&sort=name"), 200)
    assert [p["name"] for p in first["pools"]] == ["a", "b"]
    next_link = next(link["href"] for link in first["pools_links"] if link["rel"] == "next")
    second = check(client.get(next_link), 200)
    assert [p["name"] for p in second["pools"]] == ["c", "z"]
    only = check(client.get("/v2/lbaas/pools?fields=id&fields=name&limit=1"), 200)["pools"]
    assert set(only[0]) == {"id", "name"}
    assert "unknown filter" in fault(client.get("/v2/lbaas/pools?colour=red"), 400)
