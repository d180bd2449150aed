"""The read-only Neutron slice that clients use to resolve subnets, networks and ports."""

from __future__ import annotations

import uuid

import pytest

from ostia.drivers.network.local_driver import stable_id
from tests.support.live_api import migrated_sqlite, running_api
from tests.support.objects import check

PRIVATE_SUBNET = stable_id("subnet", "private-subnet")
PRIVATE_NETWORK = stable_id("network", "private")


def neutron_error(response, code: int, kind: str) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == code, (response.status_code, response.text)
    body = response.json()["NeutronError"]
    assert body["type"] == kind and body["detail"] == ""
    return str(body["message"])


@pytest.mark.parametrize("prefix", ["/v2.0", "/v2"])
def test_subnets_are_the_drivers_loopback_subnets(client, prefix):
    subnets = check(client.get(f"{prefix}/subnets"), 200)["subnets"]
    assert [s["name"] for s in subnets] == ["private-subnet", "public-subnet"]
    private = subnets[0]
    assert private["id"] == PRIVATE_SUBNET and private["network_id"] == PRIVATE_NETWORK
    assert private["cidr"] == "127.2.0.0/16" and private["gateway_ip"] == "127.2.0.1"
    assert private["ip_version"] == 4 and private["enable_dhcp"] is False
    assert private["allocation_pools"] == [{"start": "127.2.0.2", "end": "127.2.255.254"}]
    assert private["tenant_id"] == private["project_id"]
    assert "subnets_links" not in check(client.get(f"{prefix}/subnets"), 200)


def test_subnet_lookup_by_id_then_by_name_as_the_clients_do(client):
    by_id = check(client.get("/v2/subnets", params={"id": PRIVATE_SUBNET}), 200)["subnets"]
    assert [s["name"] for s in by_id] == ["private-subnet"]
    assert check(client.get("/v2/subnets", params={"id": "private-subnet"}), 200) == {"subnets": []}
    by_name = check(client.get("/v2/subnets", params={"name": "public-subnet"}), 200)["subnets"]
    assert [s["cidr"] for s in by_name] == ["127.3.0.0/16"]
    assert check(client.get("/v2/subnets?name=nope"), 200) == {"subnets": []}


def test_show_subnet_by_id_and_neutron_404_for_names_and_unknown_ids(client):
    shown = check(client.get(f"/v2.0/subnets/{PRIVATE_SUBNET}"), 200)["subnet"]
    assert shown["name"] == "private-subnet"
    missing = str(uuid.uuid4())
    message = neutron_error(client.get(f"/v2.0/subnets/{missing}"), 404, "SubnetNotFound")
    assert message == f"Subnet {missing} could not be found."
    neutron_error(client.get("/v2.0/subnets/private-subnet"), 404, "SubnetNotFound")


def test_filters_by_any_field_repeated_values_mean_any(client):
    assert len(check(client.get("/v2.0/subnets?ip_version=4&enable_dhcp=false"), 200)["subnets"]) == 2
    both = client.get("/v2.0/subnets", params=[("name", "private-subnet"), ("name", "public-subnet")])
    assert len(check(both, 200)["subnets"]) == 2
    assert check(client.get("/v2.0/subnets?cidr=10.0.0.0/8"), 200)["subnets"] == []
    assert check(client.get("/v2.0/subnets?tags=x"), 200)["subnets"] == []
    message = neutron_error(client.get("/v2.0/subnets?colour=red"), 400, "HTTPBadRequest")
    assert message == "[colour] is invalid attribute for filtering"


def test_fields_sorting_and_pages_with_links(client):
    names = client.get("/v2.0/subnets?fields=name&sort_key=name&sort_dir=desc")
    assert check(names, 200)["subnets"] == [{"name": "public-subnet"}, {"name": "private-subnet"}]
    first = check(client.get("/v2.0/subnets?limit=1"), 200)
    assert [s["name"] for s in first["subnets"]] == ["private-subnet"]
    (link,) = first["subnets_links"]
    assert link["rel"] == "next" and f"marker={PRIVATE_SUBNET}" in link["href"]
    second = check(client.get(link["href"]), 200)
    assert [s["name"] for s in second["subnets"]] == ["public-subnet"]
    assert [r["rel"] for r in second["subnets_links"]] == ["next", "previous"]
    neutron_error(client.get("/v2.0/subnets?limit=x"), 400, "HTTPBadRequest")
    neutron_error(client.get("/v2.0/subnets?marker=nope"), 400, "HTTPBadRequest")


def test_networks_list_their_subnets(client):
    networks = check(client.get("/v2.0/networks"), 200)["networks"]
    assert [n["name"] for n in networks] == ["private", "public"]
    private = networks[0]
    assert private["id"] == PRIVATE_NETWORK and private["subnets"] == [PRIVATE_SUBNET]
    assert private["status"] == "ACTIVE" and private["admin_state_up"] is True
    assert private["shared"] is True
    shown = check(client.get(f"/v2/networks/{PRIVATE_NETWORK}"), 200)["network"]
    assert shown == private
    assert check(client.get("/v2/networks?name=private"), 200)["networks"] == [private]
    neutron_error(client.get(f"/v2/networks/{uuid.uuid4()}"), 404, "NetworkNotFound")


@pytest.mark.parametrize(
    ("path", "plural", "kind"),
    [
        ("ports", "ports", "PortNotFound"),
        ("security-groups", "security_groups", "SecurityGroupNotFound"),
        ("qos/policies", "policies", "QosPolicyNotFound"),
    ],
)
def test_ports_security_groups_and_qos_policies_are_empty(client, path, plural, kind):
    assert check(client.get(f"/v2.0/{path}"), 200) == {plural: []}
    assert check(client.get(f"/v2/{path}?id={uuid.uuid4()}"), 200) == {plural: []}
    neutron_error(client.get(f"/v2.0/{path}/{uuid.uuid4()}"), 404, kind)


def test_noop_network_driver_answers_any_uuid_by_id(tmp_path):
    overrides = {"controller_worker": {"network_driver": "network_noop_driver"}}
    with running_api(migrated_sqlite(f"{tmp_path}/o.db"), overrides) as live, live.client() as http:
        assert check(http.get("/v2.0/subnets"), 200) == {"subnets": []}
        wanted = str(uuid.uuid4())
        (subnet,) = check(http.get("/v2.0/subnets", params={"id": wanted}), 200)["subnets"]
        assert subnet["id"] == wanted
        assert check(http.get(f"/v2.0/subnets/{wanted}"), 200)["subnet"]["id"] == wanted
        assert check(http.get("/v2.0/subnets?name=private-subnet"), 200)["subnets"] == []


def test_version_documents_still_answer_beside_the_network_routes(client):
    assert check(client.get("/"), 200)["versions"][-1]["links"][0]["href"].endswith("/v2")
    assert check(client.get("/v2"), 200)["version"]["status"] == "CURRENT"
    assert check(client.get("/v2.0"), 200)["version"]["status"] == "CURRENT"


@pytest.mark.parametrize("path", ["/projects/admin", "/projects?name=admin", "/v3/projects/x"])
def test_project_lookups_are_refused_so_clients_use_the_value_as_the_id(client, path):
    response = client.get(path)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == 403
