"""UDP (and SCTP) listeners, pools and monitors through the API on the amphora provider:
what UDP accepts, what it refuses as upstream does, and SCTP answered 501."""

from __future__ import annotations

import pytest

from tests.support.objects import (
    check,
    create_healthmonitor,
    create_held_lb,
    create_listener,
    create_member,
    create_pool,
    fault,
    settle,
)


@pytest.fixture
def amphora_lb(api, client):
    return create_held_lb(api, client)


@pytest.fixture
def udp(api, client, amphora_lb):
    """A UDP listener with a UDP default pool, settled (ACTIVE)."""
    listener = create_listener(client, amphora_lb["id"], protocol="UDP", port=53)
    settle(api, amphora_lb["id"])
    pool = create_pool(client, protocol="UDP", lb_algorithm="SOURCE_IP", listener_id=listener["id"])
    settle(api, amphora_lb["id"])
    return listener, pool


def _post(client, path: str, key: str, **body):
    return client.post(f"/v2/lbaas/{path}", json={key: body})


def test_udp_listener_pool_members_and_udp_connect_monitor_are_created(api, client, amphora_lb, udp):
    listener, pool = udp
    assert (listener["protocol"], pool["protocol"], pool["lb_algorithm"]) == ("UDP", "UDP", "SOURCE_IP")
    for address in ("192.0.2.10", "192.0.2.11"):
        create_member(client, pool["id"], address=address, port=5353)
        settle(api, amphora_lb["id"])
    monitor = create_healthmonitor(client, pool["id"], type="UDP-CONNECT", delay=3)
    assert monitor["type"] == "UDP-CONNECT"
    settle(api, amphora_lb["id"])
    shown = check(client.get(f"/v2/lbaas/listeners/{listener['id']}"), 200)["listener"]
    assert shown["default_pool_id"] == pool["id"]
    # TCP-family and UDP listeners may share a port number.
    create_listener(client, amphora_lb["id"], protocol="TCP", port=53)


def test_udp_pool_accepts_source_ip_persistence_with_timeout(api, client, amphora_lb):
    persistence = {"type": "SOURCE_IP", "persistence_timeout": 60, "persistence_granularity": "255.255.255.0"}
    pool = create_pool(
        client, protocol="UDP", loadbalancer_id=amphora_lb["id"], session_persistence=persistence
    )
    assert pool["session_persistence"]["persistence_timeout"] == 60
    settle(api, amphora_lb["id"])
    refused = _post(
        client,
        "pools",
        "pool",
        protocol="UDP",
        lb_algorithm="ROUND_ROBIN",
        loadbalancer_id=amphora_lb["id"],
        session_persistence={"type": "HTTP_COOKIE"},
    )
    assert "not supported for UDP/SCTP protocol pools" in fault(refused, 400)


def test_udp_listener_refuses_tls_and_inserted_headers(client, amphora_lb):
    tls = _post(
        client,
        "listeners",
        "listener",
        loadbalancer_id=amphora_lb["id"],
        protocol="UDP",
        protocol_port=53,
        default_tls_container_ref="cert",
    )
    assert fault(tls, 400).endswith("UDP protocol listener does not support TLS.")
    headers = _post(
        client,
        "listeners",
        "listener",
        loadbalancer_id=amphora_lb["id"],
        protocol="UDP",
        protocol_port=53,
        insert_headers={"X-Forwarded-For": "true"},
    )
    fault(headers, 400)


def test_udp_listener_refuses_l7_policies(client, udp):
    listener, _ = udp
    refused = _post(client, "l7policies", "l7policy", listener_id=listener["id"], action="REJECT")
    assert fault(refused, 400).endswith("UDP protocol listener does not support L7 policies.")


@pytest.mark.parametrize("kind", ["HTTPS", "PING", "TLS-HELLO"])
def test_udp_pool_refuses_stream_only_monitor_types(client, udp, kind):
    _, pool = udp
    refused = _post(
        client,
        "healthmonitors",
        "healthmonitor",
        pool_id=pool["id"],
        type=kind,
        delay=5,
        timeout=3,
        max_retries=3,
    )
    assert "only a UDP-CONNECT/SCTP/TCP/HTTP health monitor is supported" in fault(refused, 400)


def test_udp_connect_monitor_refused_on_a_tcp_pool(api, client, amphora_lb):
    pool = create_pool(client, protocol="TCP", loadbalancer_id=amphora_lb["id"])
    settle(api, amphora_lb["id"])
    refused = _post(
        client,
        "healthmonitors",
        "healthmonitor",
        pool_id=pool["id"],
        type="UDP-CONNECT",
        delay=5,
        timeout=3,
        max_retries=3,
    )
    assert "only supported for pools of type UDP/SCTP" in fault(refused, 400)


def test_udp_pool_refuses_a_tcp_listener_and_the_other_way_round(api, client, amphora_lb):
    tcp = create_listener(client, amphora_lb["id"], protocol="TCP", port=80)
    settle(api, amphora_lb["id"])
    refused = _post(
        client, "pools", "pool", protocol="UDP", lb_algorithm="ROUND_ROBIN", listener_id=tcp["id"]
    )
    assert "The pool protocol 'UDP' is invalid while the listener protocol is 'TCP'" in fault(refused, 400)


def test_sctp_listener_and_pool_answer_501_on_the_amphora_provider(client, amphora_lb):
    listener = _post(
        client, "listeners", "listener", loadbalancer_id=amphora_lb["id"], protocol="SCTP", protocol_port=9999
    )
    text = fault(listener, 501)
    assert "does not support SCTP protocol" in text and "UDP listeners with nginx" in text
    pool = _post(
        client, "pools", "pool", protocol="SCTP", lb_algorithm="ROUND_ROBIN", loadbalancer_id=amphora_lb["id"]
    )
    assert "does not support SCTP protocol" in fault(pool, 501)
    listed = check(client.get("/v2/lbaas/listeners", params={"loadbalancer_id": amphora_lb["id"]}), 200)
    assert listed["listeners"] == []


def test_single_call_create_with_a_udp_listener(api, client):
    body = {
        "loadbalancer": {
            "vip_subnet_id": "private-subnet",
            "provider": "amphora",
            "listeners": [
                {
                    "protocol": "UDP",
                    "protocol_port": 53,
                    "default_pool": {
                        "name": "dns",
                        "protocol": "UDP",
                        "lb_algorithm": "ROUND_ROBIN",
                        "healthmonitor": {"type": "UDP-CONNECT", "delay": 3, "timeout": 2, "max_retries": 2},
                        "members": [{"address": "192.0.2.20", "protocol_port": 53}],
                    },
                }
            ],
        }
    }
    lb = check(client.post("/v2/lbaas/loadbalancers", json=body), 201)["loadbalancer"]
    assert [li["protocol"] for li in lb["listeners"]] == ["UDP"]
    sctp = {
        "loadbalancer": {
            "vip_subnet_id": "private-subnet",
            "provider": "amphora",
            "listeners": [{"protocol": "SCTP", "protocol_port": 9}],
        }
    }
    assert "SCTP" in fault(client.post("/v2/lbaas/loadbalancers", json=sctp), 501)
