"""Request ids and the access log: what an operator greps for, what a client prints."""

from __future__ import annotations

import logging
import re
import time
import uuid

import pytest

from ostia.common.request_id import RequestIdFilter
from ostia.db import models
from tests.support.objects import check, create_lb, fault

REQUEST_ID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
def caplog(caplog):
    """caplog whose records carry `request_id`, as the services' handlers do."""
    caplog.handler.addFilter(RequestIdFilter())
    return caplog


def _access_lines(caplog, ident):
    """The access lines of request `ident` (written just after the answer is sent)."""
    deadline = time.monotonic() + 5
    while True:
        lines = [r for r in caplog.records if r.name == "ostia.api.access" and r.request_id == ident]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def test_every_answer_carries_a_fresh_request_id(client):
    ids = []
    for response in (
        client.get("/"),
        client.get("/v2/lbaas/loadbalancers"),
        client.get("/v2/lbaas/loadbalancers/nope"),
        client.get("/v2/lbaas/loadbalancers", headers={"Accept": "text/html"}),
        client.post("/v2/lbaas/loadbalancers", content=b"{"),
    ):
        ident = response.headers.get("x-openstack-request-id", "")
        assert REQUEST_ID.match(ident), (response.status_code, response.headers)
        ids.append(ident)
    assert len(set(ids)) == len(ids)


def test_access_line_per_request_with_status_duration_project_and_id(client, caplog):
    caplog.set_level(logging.INFO, logger="ostia.api.access")
    response = client.get("/v2/lbaas/loadbalancers?limit=2", headers={"X-Project-Id": "p7"})
    check(response, 200)
    ident = response.headers["x-openstack-request-id"]
    lines = _access_lines(caplog, ident)
    assert len(lines) == 1
    text = lines[0].getMessage()
    assert re.match(
        r"^GET /v2/lbaas/loadbalancers\?limit=2 status=200 duration_ms=\d+\.\d "
        r"project=p7$",
        text,
    ), text
    assert lines[0].levelno == logging.INFO


def test_incoming_request_id_is_logged_as_global_not_reused(client, caplog):
    caplog.set_level(logging.INFO, logger="ostia.api.access")
    incoming = f"req-{uuid.uuid4()}"
    response = client.get("/v2/lbaas/loadbalancers", headers={"X-OpenStack-Request-ID": incoming})
    assert response.headers["x-openstack-request-id"] != incoming
    line = _access_lines(caplog, response.headers["x-openstack-request-id"])[0].getMessage()
    assert line.endswith(f"global_request_id={incoming}")


def test_a_4xx_reason_is_logged_at_debug_under_the_request_id(client, caplog):
    caplog.set_level(logging.DEBUG, logger="ostia.api.errors")
    response = client.post(
        "/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": "private-subnet", "bogus": 1}}
    )
    fault(response, 400)
    ident = response.headers["x-openstack-request-id"]
    reasons = [r for r in caplog.records if r.name == "ostia.api.errors" and r.request_id == ident]
    assert reasons and reasons[0].levelno == logging.DEBUG
    assert "bogus" in reasons[0].getMessage()


def test_the_request_id_is_stored_with_the_pending_load_balancer(api, client):
    response = client.post(
        "/v2/lbaas/loadbalancers",
        json={"loadbalancer": {"vip_subnet_id": "private-subnet", "provider": "amphora"}},
    )
    lb = check(response, 201)["loadbalancer"]
    with api.db.transaction() as session:
        stored = session.get(models.LoadBalancer, lb["id"]).request_id
    assert stored == response.headers["x-openstack-request-id"]


@pytest.mark.parametrize("path", ["/v2/lbaas/loadbalancers/{id}"])
def test_a_change_under_a_load_balancer_stores_the_new_request_id(api, client, path):
    lb = create_lb(client)
    response = client.put(path.format(id=lb["id"]), json={"loadbalancer": {"name": "x"}})
    check(response, 200)
    with api.db.transaction() as session:
        stored = session.get(models.LoadBalancer, lb["id"]).request_id
    assert stored == response.headers["x-openstack-request-id"]


def test_a_percent_encoded_newline_in_the_path_cannot_forge_an_access_line(client, caplog):
    caplog.set_level(logging.INFO, logger="ostia.api.access")
    response = client.get("/v2/lbaas/loadbalancers/x%0aGET%20/forged%20status=200")
    assert response.status_code == 404
    line = _access_lines(caplog, response.headers["x-openstack-request-id"])[0].getMessage()
    assert "\n" not in line and line.startswith("GET /v2/lbaas/loadbalancers/x%0aGET"), line


@pytest.mark.parametrize("incoming", [f"req-{uuid.uuid4()}\n", f"req-{uuid.uuid4()} x"])
def test_a_malformed_incoming_request_id_is_not_logged(incoming):
    from ostia.common.request_id import is_request_id

    assert not is_request_id(incoming)
    assert is_request_id(incoming.rstrip("\n x"))
