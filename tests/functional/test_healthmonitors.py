"""Health monitors over HTTP: CRUD, one per pool, type rules, limits and PUT nulls."""

from __future__ import annotations

import pytest

from ostia.common import limits
from tests.support.objects import (
    check,
    create_healthmonitor,
    create_held_lb,
    create_lb,
    create_pool,
    fault,
    settle,
    show,
    statuses,
)


@pytest.fixture
def lb(client):
    return create_lb(client)


@pytest.fixture
def pool(client, lb):
    return create_pool(client, loadbalancer_id=lb["id"])


def _post(client, **body):
    return client.post("/v2/lbaas/healthmonitors", json={"healthmonitor": body})


def _put(client, monitor_id, **body):
    return client.put(f"/v2/lbaas/healthmonitors/{monitor_id}", json={"healthmonitor": body})


def _minimal(pool_id, kind="HTTP"):
    return {"pool_id": pool_id, "type": kind, "delay": 5, "timeout": 3, "max_retries": 3}


def test_crud_with_http_defaults(client, pool):
    monitor = create_healthmonitor(client, pool["id"], name="hm", tags=["t"])
    assert (monitor["provisioning_status"], monitor["operating_status"]) == ("PENDING_CREATE", "OFFLINE")
    assert (monitor["http_method"], monitor["url_path"], monitor["expected_codes"]) == ("GET", "/", "200")
    assert (monitor["max_retries"], monitor["max_retries_down"]) == (3, 3)
    assert monitor["pools"] == [{"id": pool["id"]}]
    assert monitor["http_version"] is None and monitor["domain_name"] is None
    assert monitor["project_id"] == monitor["tenant_id"] == pool["project_id"]
    path = f"/v2/lbaas/healthmonitors/{monitor['id']}"
    assert show(client, path, "healthmonitor")["provisioning_status"] == "ACTIVE"
    assert show(client, f"/v2/lbaas/pools/{pool['id']}", "pool")["healthmonitor_id"] == monitor["id"]
    updated = check(
        _put(
            client,
            monitor["id"],
            delay=10,
            url_path="/health",
            expected_codes="200-204",
            http_method="HEAD",
            max_retries_down=5,
            http_version=1.1,
            domain_name="example.com",
        ),
        200,
    )["healthmonitor"]
    assert updated["provisioning_status"] == "PENDING_UPDATE"
    assert (
        updated["delay"],
        updated["url_path"],
        updated["expected_codes"],
        updated["http_method"],
        updated["max_retries_down"],
        updated["http_version"],
        updated["domain_name"],
    ) == (10, "/health", "200-204", "HEAD", 5, 1.1, "example.com")
    reset = check(
        _put(
            client, monitor["id"], url_path=None, expected_codes=None, http_method=None, max_retries_down=None
        ),
        200,
    )["healthmonitor"]
    assert (
        reset["url_path"],
        reset["expected_codes"],
        reset["http_method"],
        reset["max_retries_down"],
        reset["delay"],
    ) == ("/", "200", "GET", 3, 10)
    check(client.delete(path), 204)
    assert fault(client.get(path), 404) == f"Health Monitor {monitor['id']} not found."
    assert show(client, f"/v2/lbaas/pools/{pool['id']}", "pool")["healthmonitor_id"] is None
    create_healthmonitor(client, pool["id"], type="TCP")


def test_one_monitor_per_pool(client, pool):
    create_healthmonitor(client, pool["id"])
    assert (
        fault(_post(client, **_minimal(pool["id"], "TCP")), 409) == "This pool already has a health monitor"
    )


STREAM_TYPES = {"HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO"}
DATAGRAM_TYPES = {"HTTP", "TCP", "UDP-CONNECT", "SCTP"}
MONITOR_TYPES_BY_POOL = {
    "HTTP": STREAM_TYPES,
    "HTTPS": STREAM_TYPES,
    "TCP": STREAM_TYPES,
    "PROXY": STREAM_TYPES,
    "PROXYV2": STREAM_TYPES,
    "UDP": DATAGRAM_TYPES,
    "SCTP": DATAGRAM_TYPES,
}


def test_monitor_types_follow_the_pool_protocol(client, lb):
    wrong = []
    for protocol, allowed in MONITOR_TYPES_BY_POOL.items():
        pool = create_pool(client, loadbalancer_id=lb["id"], protocol=protocol)
        for kind in ("HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO", "UDP-CONNECT", "SCTP"):
            response = _post(client, **_minimal(pool["id"], kind))
            expected = 201 if kind in allowed else 400
            if response.status_code != expected:
                wrong.append((protocol, kind, response.text))
            elif expected == 201:
                monitor_id = response.json()["healthmonitor"]["id"]
                check(client.delete(f"/v2/lbaas/healthmonitors/{monitor_id}"), 204)
    assert wrong == []
    udp = create_pool(client, loadbalancer_id=lb["id"], protocol="UDP")
    assert fault(_post(client, **_minimal(udp["id"], "HTTPS")), 400) == (
        "Validation failure: The associated pool protocol is UDP, so only a "
        "UDP-CONNECT/SCTP/TCP/HTTP health monitor is supported."
    )
    tcp = create_pool(client, loadbalancer_id=lb["id"], protocol="TCP")
    assert fault(_post(client, **_minimal(tcp["id"], "UDP-CONNECT")), 400) == (
        "Validation failure: The UDP-CONNECT type is only supported for pools of type UDP/SCTP."
    )


@pytest.mark.parametrize(
    "field, good, bad",
    [
        ("delay", 0, -1),
        ("delay", limits.HM_DELAY.high, limits.HM_DELAY.high + 1),
        ("timeout", 0, -1),
        ("timeout", limits.HM_TIMEOUT.high, limits.HM_TIMEOUT.high + 1),
        ("max_retries", 1, 0),
        ("max_retries", 10, 11),
        ("max_retries_down", 1, 0),
        ("max_retries_down", 10, 11),
        ("name", "n" * 255, "n" * 256),
        ("http_method", "PATCH", "FETCH"),
        ("http_version", 1.0, 1.2),
        ("type", "TLS-HELLO", "ICMP"),
        ("delay", "5", "5.0"),
    ],
)
def test_fields_at_their_limits(client, lb, field, good, bad):
    pools = [create_pool(client, loadbalancer_id=lb["id"]) for _ in range(2)]
    check(_post(client, **{**_minimal(pools[0]["id"]), field: good}), 201)
    response = _post(client, **{**_minimal(pools[1]["id"]), field: bad})
    assert f"field/attribute {field}" in fault(response, 400)


def test_required_fields(client, pool):
    for field in ("type", "delay", "timeout", "max_retries", "pool_id"):
        body = {k: v for k, v in _minimal(pool["id"]).items() if k != field}
        assert f"field/attribute {field}" in fault(_post(client, **body), 400)


EXPECTED_CODES = {
    "200": True,
    "200, 202": True,
    "200,202,204": True,
    "200-204": True,
    "20": False,
    "200-": False,
    "200-204,300": False,
    "abc": False,
    "": False,
}
URL_PATHS = {
    "/": True,
    "/health?full=1": True,
    "/a/b%20c": True,
    "health": False,
    "http://host/health": False,
    "/a b": False,
    "/a\nb": False,
    "//host/x": False,
}


def test_expected_codes_and_url_path_forms(client, lb):
    pool = create_pool(client, loadbalancer_id=lb["id"])
    wrong = []
    cases = [("expected_codes", v, ok) for v, ok in EXPECTED_CODES.items()] + [
        ("url_path", v, ok) for v, ok in URL_PATHS.items()
    ]
    for field, value, ok in cases:
        response = _post(client, **_minimal(pool["id"]), **{field: value})
        if response.status_code != (201 if ok else 400):
            wrong.append((field, value, response.text))
        elif ok:
            monitor_id = response.json()["healthmonitor"]["id"]
            check(client.delete(f"/v2/lbaas/healthmonitors/{monitor_id}"), 204)
        else:
            assert f"field/attribute {field}" in response.json()["faultstring"]
    assert wrong == []


def test_http_only_fields_are_refused_on_other_types(client, lb):
    pool = create_pool(client, loadbalancer_id=lb["id"], protocol="TCP")
    for field, value in (("http_method", "GET"), ("url_path", "/"), ("expected_codes", "200")):
        response = _post(client, **_minimal(pool["id"], "TCP"), **{field: value})
        assert fault(response, 400) == f"{field} is not a valid option for health monitors of type TCP"
    monitor = create_healthmonitor(client, pool["id"], type="TCP")
    assert monitor["http_method"] is None and monitor["url_path"] is None
    for field in ("http_method", "url_path", "expected_codes"):
        assert "not a valid option" in fault(_put(client, monitor["id"], **{field: None}), 400)


def test_domain_name_needs_http_1_1(client, lb):
    pools = [create_pool(client, loadbalancer_id=lb["id"]) for _ in range(2)]
    without = _post(client, **_minimal(pools[0]["id"]), domain_name="example.com")
    assert "http_version must be specified" in fault(without, 400)
    old = _post(client, **_minimal(pools[0]["id"]), domain_name="example.com", http_version=1.0)
    assert "http_version 1.0 is not a valid option" in fault(old, 400)
    bad_name = _post(client, **_minimal(pools[0]["id"]), domain_name="-bad-.com", http_version=1.1)
    assert "domain_name" in fault(bad_name, 400)
    monitor = create_healthmonitor(client, pools[1]["id"], http_version=1.0)
    assert "http_version must be specified" in fault(
        _put(client, monitor["id"], http_version=None, domain_name="example.com"), 400
    )
    check(_put(client, monitor["id"], http_version=1.1, domain_name="example.com"), 200)


def test_put_refuses_null_timings(client, pool):
    monitor = create_healthmonitor(client, pool["id"])
    for field in ("delay", "timeout", "max_retries"):
        assert (
            fault(_put(client, monitor["id"], **{field: None}), 400)
            == f"None is not a valid option for {field}"
        )
    assert "type" in fault(_put(client, monitor["id"], type="TCP"), 400)
    assert "pool_id" in fault(_put(client, monitor["id"], pool_id=pool["id"]), 400)


def test_ping_can_be_disabled(api, client, pool):
    api.conf.set_override("allow_ping_health_monitors", False, "api_settings")
    assert (
        fault(_post(client, **_minimal(pool["id"], "PING")), 400)
        == "The selected type is not allowed in this deployment: PING"
    )


def test_udp_connect_minimum_delay(api, client, lb):
    pools = [create_pool(client, loadbalancer_id=lb["id"], protocol="UDP") for _ in range(3)]
    low = _post(client, **{**_minimal(pools[0]["id"], "UDP-CONNECT"), "delay": 2})
    assert "should be larger than 3" in fault(low, 400)
    monitor = create_healthmonitor(client, pools[0]["id"], type="UDP-CONNECT", delay=3)
    assert "should be larger than 3" in fault(_put(client, monitor["id"], delay=1), 400)
    api.conf.set_override("udp_connect_min_interval_health_monitor", -1, "api_settings")
    create_healthmonitor(client, pools[1]["id"], type="UDP-CONNECT", delay=0)


def test_changes_lock_lb_and_pool_and_need_an_active_pool(api, client):
    lb = create_held_lb(api, client)
    pool = create_pool(client, loadbalancer_id=lb["id"])
    assert (
        fault(_post(client, **_minimal(pool["id"])), 409)
        == f"Pool {pool['id']} is immutable and cannot be updated."
    )
    settle(api, lb["id"])
    monitor = create_healthmonitor(client, pool["id"])
    paths = (f"loadbalancers/{lb['id']}", f"pools/{pool['id']}", f"healthmonitors/{monitor['id']}")
    assert statuses(client, *paths) == ["PENDING_UPDATE", "PENDING_UPDATE", "PENDING_CREATE"]
    settle(api, lb["id"])
    check(client.delete(f"/v2/lbaas/{paths[2]}"), 204)
    assert statuses(client, *paths) == ["PENDING_UPDATE", "PENDING_UPDATE", "PENDING_DELETE"]
    settle(api, lb["id"])
    fault(client.get(f"/v2/lbaas/{paths[2]}"), 404)


def test_list_filters_and_sorts(client, lb):
    for kind, delay in (("HTTP", 7), ("TCP", 5), ("PING", 6)):
        pool = create_pool(client, loadbalancer_id=lb["id"])
        create_healthmonitor(client, pool["id"], type=kind, delay=delay)
    monitors = check(client.get("/v2/lbaas/healthmonitors?sort=delay:desc"), 200)["healthmonitors"]
    assert [m["type"] for m in monitors] == ["HTTP", "PING", "TCP"]
    tcp = check(client.get("/v2/lbaas/healthmonitors?type=TCP"), 200)["healthmonitors"]
    assert [m["delay"] for m in tcp] == [5]


def test_settled_monitor_is_online_when_enabled_and_offline_when_disabled(client, pool):
    monitor = create_healthmonitor(client, pool["id"])
    url = f"/v2/lbaas/healthmonitors/{monitor['id']}"
    assert client.get(url).json()["healthmonitor"]["operating_status"] == "ONLINE"
    assert client.put(url, json={"healthmonitor": {"admin_state_up": False}}).status_code == 200
    assert client.get(url).json()["healthmonitor"]["operating_status"] == "OFFLINE"
