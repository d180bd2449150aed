"""Availability zone profiles and zones over HTTP, and load balancers placed in a zone."""

from __future__ import annotations

import json
import uuid

import pytest

from ostia.db import models
from tests.support.objects import check, create_lb, fault, show

AZPS = "/v2/lbaas/availabilityzoneprofiles"
AZS = "/v2/lbaas/availabilityzones"


def _profile(client, provider="noop_driver", data=None, name="azp1"):
    body = {
        "name": name,
        "provider_name": provider,
        "availability_zone_data": json.dumps(data if data is not None else {"some_zone_capability": "z"}),
    }
    return check(client.post(AZPS, json={"availability_zone_profile": body}), 201)[
        "availability_zone_profile"
    ]


def _zone(client, profile_id, name="az1", **fields):
    body = {"name": name, "availability_zone_profile_id": profile_id, **fields}
    return check(client.post(AZS, json={"availability_zone": body}), 201)["availability_zone"]


def test_profile_crud_and_list_envelope(client):
    profile = _profile(client)
    assert set(profile) == {"id", "name", "provider_name", "availability_zone_data"}
    assert check(client.get(AZPS), 200) == {
        "availability_zone_profiles": [profile],
        "availability_zone_profile_links": [],
    }
    updated = check(
        client.put(f"{AZPS}/{profile['id']}", json={"availability_zone_profile": {"name": "renamed"}}), 200
    )["availability_zone_profile"]
    assert updated["name"] == "renamed"
    assert client.delete(f"{AZPS}/{profile['id']}").status_code == 204
    assert f"Availability Zone Profile {profile['id']} not found." in fault(
        client.get(f"{AZPS}/{profile['id']}"), 404
    )


def test_amphora_zone_capabilities(client):
    data = {
        "compute_zone": "nova",
        "management_network": "net-1",
        "valid_vip_networks": ["a", "b"],
        "volume_zone": "v",
    }
    assert json.loads(_profile(client, "amphora", data)["availability_zone_data"]) == data


@pytest.mark.parametrize(
    "provider, data, code",
    [
        ("noop_driver", "{nope", 400),
        ("noop_driver", "7", 400),
        ("noop_driver", '{"compute_zone": "x"}', 501),
        ("amphora", '{"valid_vip_networks": "a"}', 501),
        ("amphora", '{"valid_vip_networks": [1]}', 501),
        ("amphora", '{"flavor": 1}', 501),
        ("unknown", "{}", 400),
    ],
)
def test_profile_metadata_is_checked_by_the_provider(client, provider, data, code):
    fault(
        client.post(
            AZPS,
            json={
                "availability_zone_profile": {
                    "name": "n",
                    "provider_name": provider,
                    "availability_zone_data": data,
                }
            },
        ),
        code,
    )
    assert check(client.get(AZPS), 200)["availability_zone_profiles"] == []


def test_zone_crud_keyed_by_name(client):
    profile = _profile(client)
    zone = _zone(client, profile["id"], description="first")
    assert zone == {
        "name": "az1",
        "description": "first",
        "enabled": True,
        "availability_zone_profile_id": profile["id"],
    }
    assert check(client.get(AZS), 200) == {"availability_zones": [zone], "availability_zones_links": []}
    assert show(client, f"{AZS}/az1", "availability_zone") == zone
    updated = check(
        client.put(f"{AZS}/az1", json={"availability_zone": {"description": "changed", "enabled": False}}),
        200,
    )["availability_zone"]
    assert (updated["description"], updated["enabled"]) == ("changed", False)
    fault(client.put(f"{AZS}/az1", json={"availability_zone": {"name": "other"}}), 400)
    assert client.delete(f"{AZS}/az1").status_code == 204
    assert "Availability Zone az1 not found." in fault(client.get(f"{AZS}/az1"), 404)


def test_zone_names_are_unique_and_the_profile_must_exist(client):
    profile = _profile(client)
    _zone(client, profile["id"])
    assert (
        fault(
            client.post(
                AZS,
                json={"availability_zone": {"name": "az1", "availability_zone_profile_id": profile["id"]}},
            ),
            409,
        )
        == "A availability zone of az1 already exists."
    )
    missing = str(uuid.uuid4())
    fault(
        client.post(
            AZS, json={"availability_zone": {"name": "az2", "availability_zone_profile_id": missing}}
        ),
        400,
    )
    fault(
        client.post(
            AZS, json={"availability_zone": {"name": "", "availability_zone_profile_id": profile["id"]}}
        ),
        400,
    )


def test_profile_in_use_by_a_zone(client):
    profile = _profile(client)
    _zone(client, profile["id"])
    url = f"{AZPS}/{profile['id']}"
    fault(client.put(url, json={"availability_zone_profile": {"availability_zone_data": "{}"}}), 409)
    assert (
        fault(client.delete(url), 409)
        == f"Availability Zone Profile {profile['id']} is in use and cannot be modified."
    )


def test_pagination_by_name(client):
    profile = _profile(client)
    for name in ("c", "a", "b"):
        _zone(client, profile["id"], name)
    first = check(client.get(f"{AZS}?limit=2"), 200)
    assert [z["name"] for z in first["availability_zones"]] == ["a", "b"]
    next_link = first["availability_zones_links"][0]["href"]
    rest = check(client.get(next_link), 200)
    assert [z["name"] for z in rest["availability_zones"]] == ["c"]


def test_load_balancer_in_a_zone(api, client):
    _zone(client, _profile(client)["id"])
    lb = create_lb(client, availability_zone="az1")
    assert lb["availability_zone"] == "az1"
    assert (
        fault(client.delete(f"{AZS}/az1"), 409) == "Availability Zone az1 is in use and cannot be modified."
    )
    assert client.delete(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 204
    assert client.delete(f"{AZS}/az1").status_code == 204
    with api.db.transaction() as session:
        assert session.get(models.LoadBalancer, lb["id"]).availability_zone is None


def test_load_balancer_zone_errors(client):
    _zone(client, _profile(client)["id"], enabled=False)
    assert "Invalid availability zone." in fault(
        client.post(
            "/v2/lbaas/loadbalancers",
            json={"loadbalancer": {"vip_subnet_id": "private-subnet", "availability_zone": "nope"}},
        ),
        400,
    )
    assert (
        fault(
            client.post(
                "/v2/lbaas/loadbalancers",
                json={"loadbalancer": {"vip_subnet_id": "private-subnet", "availability_zone": "az1"}},
            ),
            400,
        )
        == "The selected availability_zone is not allowed in this deployment: az1"
    )


def test_only_admins_write_zones_and_read_zone_profiles(api, client):
    profile = _profile(client)
    _zone(client, profile["id"])
    with api.client(**{"X-Roles": "member", "X-Project-Id": "p1"}) as member:
        assert len(check(member.get(AZS), 200)["availability_zones"]) == 1
        fault(member.delete(f"{AZS}/az1"), 403)
        fault(member.get(AZPS), 403)
