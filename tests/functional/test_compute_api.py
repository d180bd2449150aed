"""Nova's read-only server calls answered from the amphora table (the CLI's view of them)."""

from __future__ import annotations

from tests.support.objects import check, create_lb, insert_amphora


def test_amphorae_are_servers_with_status_and_management_address(api, client):
    lb = create_lb(client)
    active = insert_amphora(api, lb["id"], compute_id="c-active", lb_network_ip="127.1.0.7")
    broken = insert_amphora(api, lb["id"], status="ERROR", compute_id="c-error", lb_network_ip="127.1.0.8")
    insert_amphora(api, None, status="DELETED", compute_id="c-gone")
    insert_amphora(api, None, status="BOOTING", compute_id=None)
    servers = {s["name"]: s for s in check(client.get("/v2/servers/detail"), 200)["servers"]}
    assert set(servers) == {f"amphora-{active}", f"amphora-{broken}"}
    server = servers[f"amphora-{active}"]
    assert (server["id"], server["status"]) == ("c-active", "ACTIVE")
    assert server["addresses"] == {
        "lb-mgmt-net": [{"version": 4, "addr": "127.1.0.7", "OS-EXT-IPS:type": "fixed"}]
    }
    assert server["metadata"]["load_balancer_id"] == lb["id"]
    assert servers[f"amphora-{broken}"]["status"] == "ERROR"
    assert check(client.get("/v2.1/servers/c-error"), 200)["server"]["name"] == f"amphora-{broken}"


def test_filters_the_cli_sends(api, client):
    first = insert_amphora(api, compute_id="c1", lb_network_ip="127.1.0.21")
    insert_amphora(api, compute_id="c2", lb_network_ip="127.1.0.22", status="ERROR")
    by_name = check(client.get("/v2/servers/detail", params={"name": f"amphora-{first}"}), 200)["servers"]
    assert [s["id"] for s in by_name] == ["c1"]
    assert [
        s["id"]
        for s in check(
            client.get("/v2/servers/detail", params={"status": "ERROR", "deleted": "False", "image": "None"}),
            200,
        )["servers"]
    ] == ["c2"]
    assert [
        s["id"]
        for s in check(client.get("/v2/servers/detail", params={"ip": r"127\.1\.0\.21"}), 200)["servers"]
    ] == ["c1"]
    brief = check(client.get("/v2/servers"), 200)["servers"]
    assert sorted(set(brief[0])) == ["id", "links", "name"]


def test_unknown_server_is_nova_404(client):
    response = client.get("/v2/servers/nope")
    assert response.status_code == 404
    assert response.json() == {"itemNotFound": {"code": 404, "message": "Instance nope could not be found."}}


def test_only_an_admin_sees_amphorae(api, client):
    insert_amphora(api, compute_id="c9")
    member = {"X-Roles": "member", "X-Project-Id": "p1"}
    assert check(client.get("/v2/servers/detail", headers=member), 200) == {"servers": []}
    assert client.get("/v2/servers/c9", headers=member).status_code == 404
