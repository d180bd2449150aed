"""The dashboard's server side over HTTP: the link from `GET /`, and what its fragments show
(ERROR reasons, amphora heartbeat ages, admin-only amphorae, pools off any listener).

The browser tests (tests/acceptance/test_dashboard.py, tests/integration/
test_dashboard_keystone.py) drive the same pages in chromium against real services.
"""

from __future__ import annotations

import datetime
import logging
import re

from ostia.db import lifecycle, models
from tests.support.objects import check, create_lb, fault, insert_amphora

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_root_sends_a_browser_to_the_dashboard(client):
    response = client.get("/", headers={"Accept": BROWSER_ACCEPT}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    page = client.get("/dashboard", headers={"Accept": BROWSER_ACCEPT})
    assert page.status_code == 200
    assert "<title>Ostia — load balancers</title>" in page.text
    # Nothing but the package's own files may run, and no other site may frame the page.
    policy = page.headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-eval';" in policy and "frame-ancestors 'none'" in policy


def test_root_still_answers_clients_with_the_version_document(client):
    for accept in ("application/json", "*/*", None):
        headers = {"Accept": accept} if accept else {}
        response = client.get("/", headers=headers)
        body = check(response, 200)
        assert list(body) == ["versions"]
        assert any(v["status"] == "CURRENT" and v["id"].startswith("v2.") for v in body["versions"])
        assert response.headers["link"] == '</dashboard>; rel="dashboard"'


def test_the_dashboard_ships_its_script_style_and_htmx(client):
    page = client.get("/dashboard").text
    for src in re.findall(r'(?:src|href)="(/dashboard/static/[^"]+)"', page):
        response = client.get(src)
        assert response.status_code == 200, src
        assert len(response.content) > 1000, src
    assert "htmx" in page


def test_a_failed_load_balancer_shows_the_reason_the_api_gives(api, client):
    # The amphora provider with no worker running: the tree stays pending until failed here.
    lb = create_lb(
        client,
        name="broken",
        provider="amphora",
        listeners=[{"name": "web", "protocol": "HTTP", "protocol_port": 8080}],
    )
    with api.db.transaction() as session:
        lifecycle.mark_graph_error(
            session.get(models.LoadBalancer, lb["id"]), "HaproxyRenderError: timeout client is out of range"
        )
    # What the API tells this caller (provisioning_status_reason) is what the page shows.
    reason = check(client.get(f"/v2/lbaas/loadbalancers/{lb['id']}"), 200)["loadbalancer"][
        "provisioning_status_reason"
    ]
    assert "timeout client is out of range" in reason
    html = client.get("/dashboard/fragments/loadbalancers").text
    node = html[html.index(f'data-id="{lb["id"]}"') :]
    assert 'class="node loadbalancer in-error"' in html
    assert re.search(r'<span class="status st-ERROR" title="provisioning status">ERROR', node)
    assert f'<p class="reason">{reason}</p>' in node
    listener = node[node.index('data-name="web"') :]
    assert re.search(r'<span class="status st-ERROR" title="provisioning status">ERROR', listener)
    assert f'<p class="reason">{reason}</p>' in listener


def test_a_pool_that_is_no_listeners_default_hangs_off_its_load_balancer(api, client):
    lb = create_lb(client, name="with-spare-pool")
    pool = check(
        client.post(
            "/v2/lbaas/pools",
            json={
                "pool": {
                    "loadbalancer_id": lb["id"],
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "name": "spare",
                }
            },
        ),
        201,
    )["pool"]
    html = client.get("/dashboard/fragments/loadbalancers").text
    assert f'data-kind="pool" data-id="{pool["id"]}" data-name="spare"' in html


def test_amphorae_show_role_management_address_and_heartbeat_age(api, client):
    lb = create_lb(client, name="served")
    heard = insert_amphora(api, lb["id"], role="MASTER", lb_network_ip="127.1.0.7")
    silent = insert_amphora(api, lb["id"], role="BACKUP", lb_network_ip="127.1.0.8")
    with api.db.transaction() as session:
        session.add(
            models.AmphoraHealth(
                amphora_id=heard, busy=False, last_update=models.utcnow() - datetime.timedelta(seconds=7)
            )
        )
    html = client.get("/dashboard/fragments/amphorae").text
    rows = {m.group(1): m.group(2) for m in re.finditer(r'<tr data-id="([^"]+)">(.*?)</tr>', html, re.S)}
    assert re.search(r"served</td>\s*<td>MASTER</td>.*127\.1\.0\.7.*\b([789]) s ago", rows[heard], re.S)
    assert re.search(r"BACKUP</td>.*127\.1\.0\.8.*never", rows[silent], re.S)


def test_amphorae_are_for_administrators_only(api, client):
    insert_amphora(api, create_lb(client)["id"])
    html = client.get(
        "/dashboard/fragments/amphorae", headers={"X-Roles": "member", "X-Project-Id": "p1"}
    ).text
    assert "Amphorae are shown to administrators only." in html
    assert "127.1.0.5" not in html


def test_a_fragments_reads_carry_its_request_id_into_the_access_log(client, caplog):
    with caplog.at_level(logging.INFO, logger="ostia.api.access"):
        response = client.get("/dashboard/fragments/loadbalancers")
    fragment_id = response.headers["x-openstack-request-id"]
    reads = [r.getMessage() for r in caplog.records if "GET /v2/lbaas/" in r.getMessage()]
    assert reads and all(f"global_request_id={fragment_id}" in line for line in reads), reads


def test_password_sign_in_is_refused_without_keystone(client):
    response = client.post("/dashboard/login", json={"username": "u", "password": "p", "project": "demo"})
    assert fault(response, 404) == "This service does not use Keystone; no sign-in is needed."


def test_statistics_show_for_a_load_balancer_with_listeners_only(client):
    bare = create_lb(client, name="bare")
    serving = create_lb(
        client, name="serving", listeners=[{"name": "web", "protocol": "HTTP", "protocol_port": 80}]
    )
    html = client.get("/dashboard/fragments/loadbalancers").text
    assert f'<div class="stats" data-lb="{serving["id"]}" data-total="0"' in html
    assert f'<div class="stats" data-lb="{bare["id"]}"' not in html
