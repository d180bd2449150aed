"""Flavor profiles and flavors over HTTP, and load balancers created with a flavor."""

from __future__ import annotations

import json
import uuid

import pytest

from ostia.db import models
from tests.support.objects import check, create_lb, fault, show

FPS = "/v2/lbaas/flavorprofiles"
FLAVORS = "/v2/lbaas/flavors"
NIL = "00000000-0000-0000-0000-000000000000"


def _profile(client, provider="noop_driver", data=None, name="fp1"):
    body = {
        "name": name,
        "provider_name": provider,
        "flavor_data": json.dumps(data if data is not None else {"some_capability": "x"}),
    }
    return check(client.post(FPS, json={"flavorprofile": body}), 201)["flavorprofile"]


def _flavor(client, profile_id, name="f1", **fields):
    body = {"name": name, "flavor_profile_id": profile_id, **fields}
    return check(client.post(FLAVORS, json={"flavor": body}), 201)["flavor"]


# ---- flavor profiles -------------------------------------------------------------------


def test_profile_crud_and_list_envelope(client):
    profile = _profile(client)
    assert set(profile) == {"id", "name", "provider_name", "flavor_data"}
    assert json.loads(profile["flavor_data"]) == {"some_capability": "x"}
    listed = check(client.get(FPS), 200)
    assert listed == {"flavorprofiles": [profile], "flavorprofile_links": []}
    assert show(client, f"{FPS}/{profile['id']}?fields=id&fields=provider_name", "flavorprofile") == {
        "id": profile["id"],
        "provider_name": "noop_driver",
    }
    renamed = check(
        client.put(
            f"{FPS}/{profile['id']}", json={"flavorprofile": {"name": "renamed", "flavor_data": "{}"}}
        ),
        200,
    )["flavorprofile"]
    assert (renamed["name"], renamed["flavor_data"]) == ("renamed", "{}")
    assert client.delete(f"{FPS}/{profile['id']}").status_code == 204
    assert f"Flavor Profile {profile['id']} not found." in fault(client.get(f"{FPS}/{profile['id']}"), 404)


def test_profile_with_amphora_capabilities(client):
    data = {
        "loadbalancer_topology": "ACTIVE_STANDBY",
        "compute_flavor": "m1",
        "amp_image_tag": "amp",
        "sriov_vip": False,
        "allow_member_sriov": True,
    }
    assert json.loads(_profile(client, "amphora", data)["flavor_data"]) == data


@pytest.mark.parametrize("field", ["name", "provider_name", "flavor_data"])
def test_profile_missing_field_is_400(client, field):
    body = {"name": "n", "provider_name": "noop_driver", "flavor_data": "{}"}
    del body[field]
    text = fault(client.post(FPS, json={"flavorprofile": body}), 400)
    assert text == f"Invalid input for field/attribute {field}. Value: 'None'. Mandatory field missing."


@pytest.mark.parametrize(
    "provider, data, code, message",
    [
        ("noop_driver", "{not json", 400, "is not a valid option for flavor_data"),
        ("noop_driver", "[1, 2]", 400, "is not a valid option for flavor_data"),
        ("noop_driver", '"text"', 400, "is not a valid option for flavor_data"),
        ("noop_driver", "[" * 5000, 400, "flavor_data"),
        (
            "noop_driver",
            '{"bogus": 1}',
            501,
            "Provider 'noop_driver' does not support a requested option: "
            "Unsupported flavor metadata keys: bogus",
        ),
        ("amphora", '{"loadbalancer_topology": "TRIPLE"}', 501, "loadbalancer_topology"),
        ("amphora", '{"sriov_vip": "yes"}', 501, "sriov_vip"),
        ("amphora", '{"compute_flavor": 5}', 501, "compute_flavor"),
        ("nope", "{}", 400, "Provider 'nope' is not enabled."),
    ],
)
def test_profile_metadata_is_checked_by_the_provider(client, provider, data, code, message):
    text = fault(
        client.post(
            FPS, json={"flavorprofile": {"name": "n", "provider_name": provider, "flavor_data": data}}
        ),
        code,
    )
    assert message in text
    assert check(client.get(FPS), 200)["flavorprofiles"] == []


def test_profile_update_rules(client):
    profile = _profile(client)
    url = f"{FPS}/{profile['id']}"
    for field in ("name", "provider_name", "flavor_data"):
        text = fault(client.put(url, json={"flavorprofile": {field: None}}), 400)
        assert text == f"None is not a valid option for {field}"
    fault(client.put(url, json={"flavorprofile": {"flavor_data": '{"bogus": 1}'}}), 501)
    fault(client.put(url, json={"flavorprofile": {"provider_name": "nope"}}), 400)
    # Moving to another provider re-checks the stored metadata against it.
    fault(client.put(url, json={"flavorprofile": {"provider_name": "amphora"}}), 501)
    assert show(client, url, "flavorprofile") == profile


def test_profile_in_use_cannot_change_target_or_be_deleted(client):
    profile = _profile(client)
    _flavor(client, profile["id"])
    url = f"{FPS}/{profile['id']}"
    text = fault(client.put(url, json={"flavorprofile": {"flavor_data": "{}"}}), 409)
    assert text == f"Flavor Profile {profile['id']} is in use and cannot be modified."
    fault(client.put(url, json={"flavorprofile": {"provider_name": "amphora"}}), 409)
    assert check(
        client.put(
            url, json={"flavorprofile": {"name": "still-fine", "flavor_data": profile["flavor_data"]}}
        ),
        200,
    )
    fault(client.delete(url), 409)


def test_nil_uuid_is_reserved(client):
    for base, key in ((FPS, "flavorprofile"), (FLAVORS, "flavor")):
        fault(client.get(f"{base}/{NIL}"), 404)
        fault(client.put(f"{base}/{NIL}", json={key: {"name": "x"}}), 404)
        fault(client.delete(f"{base}/{NIL}"), 404)


# ---- flavors ---------------------------------------------------------------------------


def test_flavor_crud(client):
    profile = _profile(client)
    flavor = _flavor(client, profile["id"], description="small")
    assert flavor == {
        "id": flavor["id"],
        "name": "f1",
        "description": "small",
        "enabled": True,
        "flavor_profile_id": profile["id"],
    }
    assert check(client.get(FLAVORS), 200) == {"flavors": [flavor], "flavors_links": []}
    assert check(client.get(f"{FLAVORS}?enabled=false"), 200)["flavors"] == []
    updated = check(
        client.put(
            f"{FLAVORS}/{flavor['id']}",
            json={"flavor": {"name": "f2", "description": None, "enabled": False}},
        ),
        200,
    )["flavor"]
    assert (updated["name"], updated["description"], updated["enabled"]) == ("f2", None, False)
    fault(client.put(f"{FLAVORS}/{flavor['id']}", json={"flavor": {"flavor_profile_id": profile["id"]}}), 400)
    assert client.delete(f"{FLAVORS}/{flavor['id']}").status_code == 204
    assert f"Flavor {flavor['id']} not found." in fault(client.get(f"{FLAVORS}/{flavor['id']}"), 404)


def test_flavor_names_are_unique_and_the_profile_must_exist(client):
    profile = _profile(client)
    _flavor(client, profile["id"], "f1")
    other = _flavor(client, profile["id"], "f2")
    assert (
        fault(client.post(FLAVORS, json={"flavor": {"name": "f1", "flavor_profile_id": profile["id"]}}), 409)
        == "A flavor of f1 already exists."
    )
    fault(client.put(f"{FLAVORS}/{other['id']}", json={"flavor": {"name": "f1"}}), 409)
    missing = str(uuid.uuid4())
    assert (
        fault(client.post(FLAVORS, json={"flavor": {"name": "f3", "flavor_profile_id": missing}}), 400)
        == f"{missing} is not a valid option for flavor_profile_id"
    )
    fault(client.post(FLAVORS, json={"flavor": {"name": "f3"}}), 400)


def test_only_admins_write_flavors_and_read_profiles(api, client):
    profile = _profile(client)
    _flavor(client, profile["id"])
    with api.client(**{"X-Roles": "member", "X-Project-Id": "p1"}) as member:
        assert len(check(member.get(FLAVORS), 200)["flavors"]) == 1
        fault(member.post(FLAVORS, json={"flavor": {"name": "f9", "flavor_profile_id": profile["id"]}}), 403)
        fault(member.get(FPS), 403)
        fault(
            member.post(
                FPS,
                json={"flavorprofile": {"name": "n", "provider_name": "noop_driver", "flavor_data": "{}"}},
            ),
            403,
        )


# ---- load balancers with a flavor ----------------------------------------------------


def test_load_balancer_with_a_flavor(api, client):
    flavor = _flavor(client, _profile(client)["id"])
    lb = create_lb(client, flavor_id=flavor["id"])
    assert lb["flavor_id"] == flavor["id"]
    assert (
        check(client.get(f"/v2/lbaas/loadbalancers?flavor_id={flavor['id']}"), 200)["loadbalancers"][0]["id"]
        == lb["id"]
    )
    assert (
        fault(client.delete(f"{FLAVORS}/{flavor['id']}"), 409)
        == f"Flavor {flavor['id']} is in use and cannot be modified."
    )
    # Once the load balancer is gone, the flavor may go too.
    assert client.delete(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 204
    assert client.delete(f"{FLAVORS}/{flavor['id']}").status_code == 204
    with api.db.transaction() as session:
        assert session.get(models.LoadBalancer, lb["id"]).flavor_id is None


def test_amphora_flavor_sets_the_topology(api, client):
    profile = _profile(client, "amphora", {"loadbalancer_topology": "ACTIVE_STANDBY"})
    flavor = _flavor(client, profile["id"])
    lb = create_lb(client, flavor_id=flavor["id"], provider="amphora")
    with api.db.transaction() as session:
        assert session.get(models.LoadBalancer, lb["id"]).topology == "ACTIVE_STANDBY"


def test_load_balancer_flavor_errors(client):
    flavor = _flavor(client, _profile(client)["id"])
    missing = str(uuid.uuid4())
    assert "Invalid flavor_id." in fault(
        client.post(
            "/v2/lbaas/loadbalancers",
            json={"loadbalancer": {"vip_subnet_id": "private-subnet", "flavor_id": missing}},
        ),
        400,
    )
    assert "is not compatible with provider 'amphora'" in fault(
        client.post(
            "/v2/lbaas/loadbalancers",
            json={
                "loadbalancer": {
                    "vip_subnet_id": "private-subnet",
                    "flavor_id": flavor["id"],
                    "provider": "amphora",
                }
            },
        ),
        400,
    )
    check(client.put(f"{FLAVORS}/{flavor['id']}", json={"flavor": {"enabled": False}}), 200)
    assert (
        fault(
            client.post(
                "/v2/lbaas/loadbalancers",
                json={"loadbalancer": {"vip_subnet_id": "private-subnet", "flavor_id": flavor["id"]}},
            ),
            400,
        )
        == f"The selected flavor is not allowed in this deployment: {flavor['id']}"
    )


def test_lb_without_provider_takes_the_flavors_provider(client):
    flavor = _flavor(client, _profile(client, provider="noop_driver")["id"])
    lb = check(
        client.post(
            "/v2/lbaas/loadbalancers",
            json={"loadbalancer": {"vip_subnet_id": "private-subnet", "flavor_id": flavor["id"]}},
        ),
        201,
    )["loadbalancer"]
    assert (lb["provider"], lb["flavor_id"]) == ("noop_driver", flavor["id"])
    clash = client.post(
        "/v2/lbaas/loadbalancers",
        json={
            "loadbalancer": {
                "vip_subnet_id": "private-subnet",
                "flavor_id": flavor["id"],
                "provider": "amphora",
            }
        },
    )
    assert "is not compatible with provider 'amphora'" in fault(clash, 400)


def test_lb_zone_metadata_is_checked_by_the_lbs_provider(client):
    profile = check(
        client.post(
            "/v2/lbaas/availabilityzoneprofiles",
            json={
                "availability_zone_profile": {
                    "name": "azp",
                    "provider_name": "amphora",
                    "availability_zone_data": '{"compute_zone": "z1"}',
                }
            },
        ),
        201,
    )["availability_zone_profile"]
    check(
        client.post(
            "/v2/lbaas/availabilityzones",
            json={"availability_zone": {"name": "az1", "availability_zone_profile_id": profile["id"]}},
        ),
        201,
    )
    refused = client.post(
        "/v2/lbaas/loadbalancers",
        json={
            "loadbalancer": {
                "vip_subnet_id": "private-subnet",
                "availability_zone": "az1",
                "provider": "noop_driver",
            }
        },
    )
    assert "does not support" in fault(refused, 501)
