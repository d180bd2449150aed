"""Amphorae (admin API under /v2/octavia): list, show, stats, failover, config, delete."""

from __future__ import annotations

import datetime
import uuid

import pytest

from ostia.db import models
from tests.support.objects import (
    check,
    create_held_lb,
    create_lb,
    create_listener,
    fault,
    insert_amphora,
    settle,
    show,
    statuses,
)

URL = "/v2/octavia/amphorae"
FIELDS = {
    "id",
    "loadbalancer_id",
    "compute_id",
    "lb_network_ip",
    "vrrp_ip",
    "ha_ip",
    "vrrp_port_id",
    "ha_port_id",
    "cert_expiration",
    "cert_busy",
    "role",
    "status",
    "vrrp_interface",
    "vrrp_id",
    "vrrp_priority",
    "cached_zone",
    "created_at",
    "updated_at",
    "image_id",
    "compute_flavor",
}


def test_list_and_show_with_upstream_fields(api, client):
    assert check(client.get(URL), 200) == {"amphorae": [], "amphorae_links": []}
    lb = create_lb(client)
    amp_id = insert_amphora(
        api,
        lb["id"],
        vrrp_priority=100,
        role="MASTER",
        cert_expiration=datetime.datetime(2030, 1, 2, 3, 4, 5),
    )
    amp = show(client, f"{URL}/{amp_id}", "amphora")
    assert set(amp) == FIELDS
    assert (amp["loadbalancer_id"], amp["role"], amp["status"], amp["vrrp_priority"]) == (
        lb["id"],
        "MASTER",
        "ALLOCATED",
        100,
    )
    assert amp["cert_expiration"] == "2030-01-02T03:04:05"
    assert amp["cert_busy"] is False
    assert check(client.get(URL), 200)["amphorae"] == [amp]
    assert show(client, f"/v2.0/octavia/amphorae/{amp_id}?fields=id&fields=status", "amphora") == {
        "id": amp_id,
        "status": "ALLOCATED",
    }
    fault(client.get(f"/v2/lbaas/amphorae/{amp_id}"), 404)


def test_filters(api, client):
    first, second = create_lb(client), create_lb(client)
    master = insert_amphora(api, first["id"], role="MASTER")
    backup = insert_amphora(api, first["id"], role="BACKUP", status="ERROR")
    other = insert_amphora(api, second["id"])
    spare = insert_amphora(api, None, status="READY", role=None)
    insert_amphora(api, None, status="DELETED")

    def ids(query):
        return {a["id"] for a in check(client.get(f"{URL}?{query}"), 200)["amphorae"]}

    assert ids("") == {master, backup, other, spare}
    assert ids(f"loadbalancer_id={first['id']}") == {master, backup}
    assert ids("status=ERROR") == {backup}
    assert ids("role=MASTER") == {master}
    assert ids(f"loadbalancer_id={first['id']}&role=BACKUP") == {backup}
    assert ids(f"project_id={first['project_id']}") == {master, backup, other}
    assert ids("project_id=nobody") == set()
    assert "One or more arguments" in fault(client.get(f"{URL}?flavor=1"), 400)


def test_unknown_and_deleted_amphorae_are_404(api, client):
    missing = str(uuid.uuid4())
    assert fault(client.get(f"{URL}/{missing}"), 404) == f"Amphora {missing} not found."
    gone = insert_amphora(api, None, status="DELETED")
    for response in (
        client.get(f"{URL}/{gone}"),
        client.get(f"{URL}/{gone}/stats"),
        client.put(f"{URL}/{gone}/failover"),
        client.put(f"{URL}/{gone}/config"),
        client.delete(f"{URL}/{gone}"),
    ):
        fault(response, 404)


def test_stats_per_listener(api, client):
    lb = create_lb(client)
    http = create_listener(client, lb["id"], "HTTP", 80)
    tcp = create_listener(client, lb["id"], "TCP", 81)
    amp_id = insert_amphora(api, lb["id"])
    assert fault(client.get(f"{URL}/{amp_id}/stats"), 404) == f"Amphora stats for {amp_id} not found."
    with api.db.transaction() as session:
        session.add(
            models.ListenerStatistics(
                listener_id=http["id"],
                amphora_id=amp_id,
                bytes_in=10,
                bytes_out=20,
                active_connections=1,
                total_connections=5,
                request_errors=2,
            )
        )
        session.add(
            models.ListenerStatistics(
                listener_id=tcp["id"],
                amphora_id=amp_id,
                bytes_in=1,
                bytes_out=2,
                active_connections=0,
                total_connections=1,
                request_errors=0,
            )
        )
        session.add(
            models.ListenerStatistics(listener_id=http["id"], amphora_id=str(uuid.uuid4()), bytes_in=999)
        )
    stats = check(client.get(f"{URL}/{amp_id}/stats"), 200)["amphora_stats"]
    assert sorted(stats, key=lambda s: s["bytes_in"]) == [
        {
            "id": amp_id,
            "listener_id": tcp["id"],
            "loadbalancer_id": lb["id"],
            "bytes_in": 1,
            "bytes_out": 2,
            "active_connections": 0,
            "total_connections": 1,
            "request_errors": 0,
        },
        {
            "id": amp_id,
            "listener_id": http["id"],
            "loadbalancer_id": lb["id"],
            "bytes_in": 10,
            "bytes_out": 20,
            "active_connections": 1,
            "total_connections": 5,
            "request_errors": 2,
        },
    ]


def test_failover_puts_the_load_balancer_pending_update(api, client):
    lb = create_held_lb(api, client)
    amp_id = insert_amphora(api, lb["id"])
    response = client.put(f"{URL}/{amp_id}/failover")
    assert response.status_code == 202 and not response.content
    assert statuses(client, f"loadbalancers/{lb['id']}") == ["PENDING_UPDATE"]
    assert (
        fault(client.put(f"{URL}/{amp_id}/failover"), 409)
        == f"Load Balancer {lb['id']} is immutable and cannot be updated."
    )
    settle(api, lb["id"])
    assert statuses(client, f"loadbalancers/{lb['id']}") == ["ACTIVE"]


def test_failover_of_an_amphora_in_error_state_lb_is_409(api, client):
    lb = create_lb(client)
    amp_id = insert_amphora(api, lb["id"])
    with api.db.transaction() as session:
        session.get(models.LoadBalancer, lb["id"]).provisioning_status = "ERROR"
    fault(client.put(f"{URL}/{amp_id}/failover"), 409)


def test_failover_of_a_spare_amphora_is_409(api, client):
    spare = insert_amphora(api, None, status="READY")
    assert "does not serve a load balancer" in fault(client.put(f"{URL}/{spare}/failover"), 409)


def test_config_refresh_answers_202_and_changes_no_status(api, client):
    lb = create_held_lb(api, client)
    amp_id = insert_amphora(api, lb["id"])
    response = client.put(f"{URL}/{amp_id}/config")
    assert response.status_code == 202 and not response.content
    assert statuses(client, f"loadbalancers/{lb['id']}") == ["ACTIVE"]
    assert client.put(f"{URL}/{insert_amphora(api, None, status='READY')}/config").status_code == 202


@pytest.mark.parametrize("state", ["ALLOCATED", "READY", "BOOTING", "PENDING_CREATE", "PENDING_DELETE"])
def test_delete_is_refused_unless_the_amphora_is_in_error(api, client, state):
    amp_id = insert_amphora(api, None, status=state)
    assert (
        fault(client.delete(f"{URL}/{amp_id}"), 409)
        == f"Amphora {amp_id} is immutable and cannot be updated."
    )


def test_delete_of_an_amphora_in_error_waits_for_cleanup(api, client):
    amp_id = insert_amphora(api, create_lb(client)["id"], status="ERROR")
    response = client.delete(f"{URL}/{amp_id}")
    assert response.status_code == 204
    assert show(client, f"{URL}/{amp_id}", "amphora")["status"] == "PENDING_DELETE"


def test_amphora_calls_are_admin_only(api, client):
    amp_id = insert_amphora(api, create_lb(client)["id"], status="ERROR")
    with api.client(**{"X-Roles": "member", "X-Project-Id": "p1"}) as member:
        for response in (
            member.get(URL),
            member.get(f"{URL}/{amp_id}"),
            member.get(f"{URL}/{amp_id}/stats"),
            member.put(f"{URL}/{amp_id}/failover"),
            member.put(f"{URL}/{amp_id}/config"),
            member.delete(f"{URL}/{amp_id}"),
        ):
            assert fault(response, 403) == "Policy does not allow this request to be performed."
    assert show(client, f"{URL}/{amp_id}", "amphora")["status"] == "ERROR"
