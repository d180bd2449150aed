"""Listeners over HTTP: defaults, limits, protocol rules, updates, deletes."""

from __future__ import annotations

import pytest

from tests.support.objects import check, create_lb, create_listener, fault, show


@pytest.fixture
def lb(client):
    return create_lb(client)


def _post(client, **body):
    return client.post("/v2/lbaas/listeners", json={"listener": body})


def test_create_has_upstream_defaults(client, lb):
    listener = create_listener(client, lb["id"], name="web")
    assert listener["provisioning_status"] == "PENDING_CREATE"
    assert listener["operating_status"] == "OFFLINE"
    assert (
        listener["connection_limit"],
        listener["timeout_client_data"],
        listener["timeout_member_connect"],
        listener["timeout_member_data"],
        listener["timeout_tcp_inspect"],
    ) == (-1, 50000, 5000, 50000, 0)
    assert listener["loadbalancers"] == [{"id": lb["id"]}]
    assert listener["insert_headers"] == {} and listener["sni_container_refs"] == []
    assert listener["client_authentication"] == "NONE"
    stored = show(client, f"/v2/lbaas/listeners/{listener['id']}", "listener")
    assert stored["provisioning_status"] == "ACTIVE"
    lb_now = show(client, f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer")
    assert lb_now["listeners"] == [{"id": listener["id"]}]


@pytest.mark.parametrize(
    "field, good, bad",
    [
        ("protocol_port", 65535, 65536),
        ("protocol_port", 1, 0),
        ("connection_limit", -1, -2),
        ("timeout_client_data", 2073600000, 2073600001),
        ("timeout_member_connect", 0, -1),
    ],
)
def test_limits_at_their_boundary(client, lb, field, good, bad):
    body = {"loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 1000}
    check(_post(client, **{**body, field: good}), 201)
    response = _post(
        client,
        **{**body, "protocol_port": 1001, field: bad} if field != "protocol_port" else {**body, field: bad},
    )
    assert field in fault(response, 400)


def test_port_is_unique_per_l4_family(client, lb):
    create_listener(client, lb["id"], protocol="HTTP", port=80)
    clash = _post(client, loadbalancer_id=lb["id"], protocol="TCP", protocol_port=80)
    assert "already using protocol TCP and protocol_port 80" in fault(clash, 409)
    check(_post(client, loadbalancer_id=lb["id"], protocol="UDP", protocol_port=80), 201)


def test_unknown_protocol_and_missing_fields_are_400(client, lb):
    assert "protocol" in fault(_post(client, loadbalancer_id=lb["id"], protocol="FTP", protocol_port=21), 400)
    assert "protocol_port" in fault(_post(client, loadbalancer_id=lb["id"], protocol="TCP"), 400)


def test_unknown_load_balancer_is_404(client):
    response = _post(
        client, loadbalancer_id="11111111-2222-3333-4444-555555555555", protocol="HTTP", protocol_port=80
    )
    assert "Load Balancer 11111111-2222-3333-4444-555555555555 not found." == fault(response, 404)


@pytest.mark.parametrize(
    "protocol, headers, code",
    [
        ("HTTP", {"X-Forwarded-For": "true"}, 201),
        ("HTTP", {"X-SSL-Client-CN": "true"}, 400),
        ("TCP", {"X-Forwarded-For": "true"}, 400),
        ("HTTP", {"X-Evil": "true"}, 400),
        ("HTTP", {"X-Forwarded-For": "true\nbind :9999"}, 400),
    ],
)
def test_insert_headers_by_protocol(client, lb, protocol, headers, code):
    response = _post(
        client, loadbalancer_id=lb["id"], protocol=protocol, protocol_port=8080, insert_headers=headers
    )
    assert response.status_code == code, response.text


def test_tls_rules(client, lb):
    refs = {"default_tls_container_ref": "cert-1"}
    assert "not allowed on HTTP" in fault(
        _post(client, loadbalancer_id=lb["id"], protocol="HTTP", protocol_port=80, **refs), 400
    )
    assert "must be provided" in fault(
        _post(client, loadbalancer_id=lb["id"], protocol="TERMINATED_HTTPS", protocol_port=443), 400
    )
    assert "does not support TLS" in fault(
        _post(client, loadbalancer_id=lb["id"], protocol="UDP", protocol_port=53, **refs), 400
    )
    listener = check(
        _post(client, loadbalancer_id=lb["id"], protocol="TERMINATED_HTTPS", protocol_port=443, **refs), 201
    )["listener"]
    assert listener["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    assert listener["alpn_protocols"] == ["h2", "http/1.1", "http/1.0"]
    assert listener["tls_ciphers"].startswith("TLS_AES_128_GCM_SHA256")


@pytest.mark.parametrize(
    "extra",
    [
        {"tls_versions": []},
        {"tls_versions": ["SSLv3"]},
        {"tls_ciphers": "AES128;reboot"},
        {"hsts_include_subdomains": True},
        {"client_authentication": "MANDATORY"},
        {"alpn_protocols": ["h3"]},
    ],
)
def test_invalid_tls_options_are_400(client, lb, extra):
    fault(
        _post(
            client,
            loadbalancer_id=lb["id"],
            protocol="TERMINATED_HTTPS",
            protocol_port=443,
            default_tls_container_ref="cert-1",
            **extra,
        ),
        400,
    )


def test_hsts_only_on_terminated_https(client, lb):
    assert "HSTS" in fault(
        _post(client, loadbalancer_id=lb["id"], protocol="HTTP", protocol_port=80, hsts_max_age=10), 400
    )


def test_allowed_cidrs_are_normalised_and_family_checked(client, lb):
    listener = check(
        _post(
            client, loadbalancer_id=lb["id"], protocol="TCP", protocol_port=22, allowed_cidrs=["10.0.0.7/8"]
        ),
        201,
    )["listener"]
    assert listener["allowed_cidrs"] == ["10.0.0.0/8"]
    assert "IP version" in fault(
        _post(
            client,
            loadbalancer_id=lb["id"],
            protocol="TCP",
            protocol_port=23,
            allowed_cidrs=["2001:db8::/32"],
        ),
        400,
    )


def test_update_and_null_restores_defaults(client, lb):
    listener = create_listener(client, lb["id"], timeout_client_data=1000, name="a")
    url = f"/v2/lbaas/listeners/{listener['id']}"
    updated = check(
        client.put(
            url, json={"listener": {"timeout_client_data": None, "connection_limit": 10, "name": "b"}}
        ),
        200,
    )["listener"]
    assert updated["provisioning_status"] == "PENDING_UPDATE"
    stored = show(client, url, "listener")
    assert (stored["timeout_client_data"], stored["connection_limit"], stored["name"]) == (50000, 10, "b")


def test_update_refuses_immutable_fields(client, lb):
    listener = create_listener(client, lb["id"])
    for body in ({"protocol": "TCP"}, {"protocol_port": 81}, {"loadbalancer_id": lb["id"]}):
        fault(client.put(f"/v2/lbaas/listeners/{listener['id']}", json={"listener": body}), 400)


def test_delete_then_gone(client, lb):
    listener = create_listener(client, lb["id"])
    check(client.delete(f"/v2/lbaas/listeners/{listener['id']}"), 204)
    fault(client.get(f"/v2/lbaas/listeners/{listener['id']}"), 404)
    assert show(client, f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer")["listeners"] == []


def test_prometheus_listener_can_be_disabled(api, client, lb):
    check(_post(client, loadbalancer_id=lb["id"], protocol="PROMETHEUS", protocol_port=9100), 201)
    api.conf.set_override("allow_prometheus_listeners", False, "api_settings")
    text = fault(_post(client, loadbalancer_id=lb["id"], protocol="PROMETHEUS", protocol_port=9101), 400)
    assert "not allowed in this deployment" in text


def test_listener_stats_start_at_zero(client, lb):
    listener = create_listener(client, lb["id"])
    stats = check(client.get(f"/v2/lbaas/listeners/{listener['id']}/stats"), 200)["stats"]
    assert set(stats.values()) == {0}
