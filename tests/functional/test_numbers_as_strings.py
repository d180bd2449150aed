"""Numbers written as strings: accepted where upstream's WSME accepts them, refused elsewhere.

WSME converts an integer attribute with Python's int() and a float one with float(); the
upstream API reference's own examples send `"protocol_port": "80"`, `"weight": "20"`,
`"delay": "10"`. What int() refuses ("80.5", "1e3", "", "abc") is a 400 here too.
"""

from __future__ import annotations

import pytest

from tests.support.objects import check, create_lb, create_listener, create_pool, fault


@pytest.fixture
def lb(client):
    return create_lb(client)


@pytest.fixture
def pool(client, lb):
    return create_pool(client, loadbalancer_id=lb["id"])


def test_api_reference_examples_with_string_numbers_are_accepted(client, lb, pool):
    listener = check(
        client.post(
            "/v2/lbaas/listeners",
            json={
                "listener": {
                    "loadbalancer_id": lb["id"],
                    "protocol": "HTTP",
                    "protocol_port": "80",
                    "connection_limit": "100",
                }
            },
        ),
        201,
    )["listener"]
    assert (listener["protocol_port"], listener["connection_limit"]) == (80, 100)
    member = check(
        client.post(
            f"/v2/lbaas/pools/{pool['id']}/members",
            json={"member": {"address": "192.0.2.16", "protocol_port": "80", "weight": "20"}},
        ),
        201,
    )["member"]
    assert (member["protocol_port"], member["weight"]) == (80, 20)
    monitor = check(
        client.post(
            "/v2/lbaas/healthmonitors",
            json={
                "healthmonitor": {
                    "pool_id": pool["id"],
                    "type": "HTTP",
                    "delay": "10",
                    "timeout": "5",
                    "max_retries": "4",
                    "http_version": "1.1",
                    "domain_name": "example.org",
                }
            },
        ),
        201,
    )["healthmonitor"]
    assert (monitor["delay"], monitor["timeout"], monitor["max_retries"], monitor["http_version"]) == (
        10,
        5,
        4,
        1.1,
    )


@pytest.mark.parametrize(
    "sent, stored",
    [
        (" 81", 81),
        ("82 ", 82),
        ("+83", 83),
        ("8_4", 84),
        (85.0, 85),
    ],
)
def test_what_python_int_reads_is_accepted_as_upstream(client, lb, sent, stored):
    listener = create_listener(client, lb["id"], port=sent)
    assert listener["protocol_port"] == stored


@pytest.mark.parametrize("sent", ["80.5", "1e3", "", "abc", "0x50", 80.5, True, [80]])
def test_what_upstream_refuses_or_would_silently_change_is_a_400(client, lb, sent):
    response = client.post(
        "/v2/lbaas/listeners",
        json={"listener": {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": sent}},
    )
    assert "protocol_port" in fault(response, 400)


def test_bounds_still_hold_for_string_numbers(client, lb, pool):
    assert "protocol_port" in fault(create_listener_response(client, lb, "70000"), 400)
    response = client.post(
        f"/v2/lbaas/pools/{pool['id']}/members",
        json={"member": {"address": "192.0.2.17", "protocol_port": 80, "weight": "257"}},
    )
    assert "weight" in fault(response, 400)


def test_http_version_takes_a_number_or_a_numeric_string(client, pool):
    for sent in (1, "1.0", "1"):
        monitor = check(
            client.post(
                "/v2/lbaas/healthmonitors",
                json={
                    "healthmonitor": {
                        "pool_id": pool["id"],
                        "type": "HTTP",
                        "delay": 5,
                        "timeout": 3,
                        "max_retries": 3,
                        "http_version": sent,
                    }
                },
            ),
            201,
        )["healthmonitor"]
        assert monitor["http_version"] == 1.0
        check(client.delete(f"/v2/lbaas/healthmonitors/{monitor['id']}"), 204)
    for refused in ("1.2", "one", True):
        response = client.post(
            "/v2/lbaas/healthmonitors",
            json={
                "healthmonitor": {
                    "pool_id": pool["id"],
                    "type": "HTTP",
                    "delay": 5,
                    "timeout": 3,
                    "max_retries": 3,
                    "http_version": refused,
                }
            },
        )
        assert "http_version" in fault(response, 400)


def test_quota_values_as_strings(client):
    quota = check(client.put("/v2/lbaas/quotas/p1", json={"quota": {"pool": "7"}}), 202)["quota"]
    assert quota["pool"] == 7


def create_listener_response(client, lb, port):
    return client.post(
        "/v2/lbaas/listeners",
        json={"listener": {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": port}},
    )
