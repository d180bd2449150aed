"""Providers over HTTP: the enabled list and each provider's capabilities."""

from __future__ import annotations

import pytest

from tests.support.live_api import migrated_sqlite, running_api
from tests.support.objects import check, fault

URL = "/v2/lbaas/providers"


def test_list_names_every_enabled_provider_with_its_description(client):
    providers = check(client.get(URL), 200)
    assert set(providers) == {"providers"}
    by_name = {p["name"]: p["description"] for p in providers["providers"]}
    assert set(by_name) == {"amphora", "octavia", "noop_driver"}
    assert by_name["amphora"] == "The Octavia Amphora driver."
    assert by_name["octavia"] == "Deprecated alias of the Octavia Amphora driver."
    assert check(client.get(f"{URL}?fields=name"), 200)["providers"][0].keys() == {"name"}


def test_descriptions_come_from_the_configuration(tmp_path):
    overrides = {
        "api_settings": {
            "enabled_provider_drivers": {"noop_driver": "Just for tests."},
            "default_provider_driver": "noop_driver",
        }
    }
    with running_api(migrated_sqlite(f"{tmp_path}/p.db"), overrides) as api, api.client() as client:
        assert check(client.get(URL), 200) == {
            "providers": [{"name": "noop_driver", "description": "Just for tests."}]
        }
        fault(client.get(f"{URL}/amphora/flavor_capabilities"), 400)


def test_amphora_flavor_capabilities(client):
    caps = check(client.get(f"{URL}/amphora/flavor_capabilities"), 200)
    names = [c["name"] for c in caps["flavor_capabilities"]]
    assert names == [
        "loadbalancer_topology",
        "compute_flavor",
        "amp_image_tag",
        "sriov_vip",
        "allow_member_sriov",
    ]
    assert all(c["description"] for c in caps["flavor_capabilities"])


def test_amphora_zone_capabilities(client):
    caps = check(client.get(f"{URL}/amphora/availability_zone_capabilities"), 200)
    assert {c["name"] for c in caps["availability_zone_capabilities"]} == {
        "compute_zone",
        "management_network",
        "valid_vip_networks",
        "volume_zone",
    }


@pytest.mark.parametrize("kind", ["flavor_capabilities", "availability_zone_capabilities"])
def test_capabilities_filter_by_name_or_description_and_select_fields(client, kind):
    everything = check(client.get(f"{URL}/amphora/{kind}"), 200)[kind]
    first = everything[0]
    by_name = check(client.get(f"{URL}/amphora/{kind}", params={"name": first["name"]}), 200)[kind]
    assert by_name == [first]
    by_description = check(
        client.get(f"{URL}/amphora/{kind}", params={"description": first["description"]}), 200
    )[kind]
    assert by_description == [first]
    assert check(client.get(f"{URL}/amphora/{kind}?name=nothing"), 200)[kind] == []
    names_only = check(client.get(f"{URL}/amphora/{kind}?fields=name"), 200)[kind]
    assert names_only == [{"name": c["name"]} for c in everything]


@pytest.mark.parametrize("kind", ["flavor_capabilities", "availability_zone_capabilities"])
def test_unknown_provider_is_400(client, kind):
    assert fault(client.get(f"{URL}/bogus/{kind}"), 400) == "Provider 'bogus' is not enabled."


def test_capabilities_are_admin_only_the_list_is_not(api):
    with api.client(**{"X-Roles": "member", "X-Project-Id": "p1"}) as member:
        check(member.get(URL), 200)
        fault(member.get(f"{URL}/amphora/flavor_capabilities"), 403)
        fault(member.get(f"{URL}/amphora/availability_zone_capabilities"), 403)
