"""Octavia's RBAC with real Keystone tokens: every role against every resource, project
isolation in lists and shows, and quotas per project."""

from __future__ import annotations

import pytest

from tests.support import rbac
from tests.support.keystone import PROJECT_A, PROJECT_B, Cloud
from tests.support.live_api import LiveAPI
from tests.support.objects import check, create_lb, fault

pytestmark = pytest.mark.slow


def client_of(api: LiveAPI, keystone: Cloud, role: str, project: str = PROJECT_A):  # type: ignore[no-untyped-def]
    return api.client(**{"X-Auth-Token": keystone.token(role, project)})


@pytest.fixture(scope="module")
def world(keystone_api: LiveAPI, keystone: Cloud) -> rbac.World:
    with client_of(keystone_api, keystone, rbac.ADMIN) as admin_a:
        built = rbac.build_world(
            admin_a, keystone.user(rbac.ADMIN).project_id, keystone.user(rbac.MEMBER, PROJECT_B).project_id
        )
    with client_of(keystone_api, keystone, rbac.MEMBER, PROJECT_B) as member_b:
        create_lb(member_b, name="of-b")
    return built


@pytest.mark.parametrize("resource", rbac.RESOURCES)
@pytest.mark.parametrize("role", rbac.ROLES)
def test_each_keystone_role_gets_what_the_policy_says(keystone_api, keystone, world, role, resource):
    probes = [p for p in world.probes() if p.resource == resource]
    with client_of(keystone_api, keystone, role) as client:
        errors = [e for p in probes if (e := rbac.check_probe(client, role, p))]
    assert not errors, errors


def test_every_role_has_allowed_and_denied_calls_overall(world):
    for role in rbac.ROLES:
        allowed, denied = rbac.allowed_and_denied(role, world.probes())
        if role != rbac.NO_LB_ROLE:
            assert allowed, role
        assert denied or role == rbac.ADMIN or role == rbac.LB_ADMIN, role


def test_objects_of_another_project_are_invisible(keystone_api, keystone, world):
    ids = world.ids
    with client_of(keystone_api, keystone, rbac.MEMBER, PROJECT_B) as member_b:
        names = [lb["name"] for lb in check(member_b.get("/v2/lbaas/loadbalancers"), 200)["loadbalancers"]]
        assert names == ["of-b"]
        for path in (
            f"/v2/lbaas/loadbalancers/{ids['lb']}",
            f"/v2/lbaas/listeners/{ids['listener']}",
            f"/v2/lbaas/pools/{ids['pool']}",
            f"/v2/lbaas/pools/{ids['pool']}/members/{ids['member']}",
            f"/v2/lbaas/healthmonitors/{ids['healthmonitor']}",
            f"/v2/lbaas/l7policies/{ids['l7policy']}",
            f"/v2/lbaas/l7policies/{ids['l7policy']}/rules/{ids['l7rule']}",
        ):
            fault(member_b.get(path), 404)
        fault(
            member_b.put(f"/v2/lbaas/loadbalancers/{ids['lb']}", json={"loadbalancer": {"name": "taken"}}),
            404,
        )
        fault(member_b.delete(f"/v2/lbaas/loadbalancers/{ids['lb']}"), 404)
        for plural in ("listeners", "pools", "healthmonitors", "l7policies"):
            assert check(member_b.get(f"/v2/lbaas/{plural}"), 200)[plural] == []
        # Asking for project A's objects by filter is refused, not quietly emptied.
        fault(member_b.get(f"/v2/lbaas/loadbalancers?project_id={world.project_a}"), 403)
    with client_of(keystone_api, keystone, rbac.READER, PROJECT_B) as reader_b:
        fault(reader_b.get(f"/v2/lbaas/loadbalancers/{ids['lb']}"), 404)
        fault(
            reader_b.post(
                "/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": "private-subnet"}}
            ),
            403,
        )


def test_global_readers_list_every_project(keystone_api, keystone, world):
    for role in (rbac.ADMIN, rbac.LB_GLOBAL_OBSERVER, rbac.LB_ADMIN):
        with client_of(keystone_api, keystone, role) as client:
            listed = check(client.get("/v2/lbaas/loadbalancers"), 200)["loadbalancers"]
            assert {world.project_a, world.project_b} <= {lb["project_id"] for lb in listed}
            only_b = check(client.get(f"/v2/lbaas/loadbalancers?project_id={world.project_b}"), 200)[
                "loadbalancers"
            ]
            assert {lb["project_id"] for lb in only_b} == {world.project_b}
    with client_of(keystone_api, keystone, rbac.READER) as reader_a:
        listed = check(reader_a.get("/v2/lbaas/loadbalancers"), 200)["loadbalancers"]
        assert {lb["project_id"] for lb in listed} == {world.project_a}


def test_objects_are_created_in_the_token_project(keystone_api, keystone, world):
    with client_of(keystone_api, keystone, rbac.LB_MEMBER) as legacy_member:
        lb = create_lb(legacy_member, name="legacy")
        assert lb["project_id"] == world.project_a
        fault(
            legacy_member.post(
                "/v2/lbaas/loadbalancers",
                json={"loadbalancer": {"vip_subnet_id": "private-subnet", "project_id": world.project_b}},
            ),
            403,
        )
        check(legacy_member.delete(f"/v2/lbaas/loadbalancers/{lb['id']}"), 204)


def test_quotas_are_per_project(keystone_api, keystone):
    server = keystone.server
    small = server.user("quota-small-member", "quota-small", ("member",))
    other = server.user("quota-other-member", "quota-other", ("member",))
    small_token = server.issue_token(small.name, small.password, small.project)
    other_token = server.issue_token(other.name, other.password, other.project)
    with client_of(keystone_api, keystone, rbac.LB_QUOTA_ADMIN) as quota_admin:
        set_quota = quota_admin.put(
            f"/v2/lbaas/quotas/{small.project_id}", json={"quota": {"loadbalancer": 1}}
        )
        assert check(set_quota, 202)["quota"]["loadbalancer"] == 1
    with keystone_api.client(**{"X-Auth-Token": small_token}) as member:
        assert check(member.get(f"/v2/lbaas/quotas/{small.project_id}"), 200)["quota"]["loadbalancer"] == 1
        fault(member.get(f"/v2/lbaas/quotas/{other.project_id}"), 403)
        fault(member.put(f"/v2/lbaas/quotas/{small.project_id}", json={"quota": {"loadbalancer": 10}}), 403)
        create_lb(member)
        full = member.post(
            "/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": "private-subnet"}}
        )
        assert fault(full, 403) == "Quota has been met for resources: Load Balancer"
    with keystone_api.client(**{"X-Auth-Token": other_token}) as member:
        assert check(member.get(f"/v2/lbaas/quotas/{other.project_id}"), 200)["quota"]["loadbalancer"] == -1
        create_lb(member)
        create_lb(member)
    with client_of(keystone_api, keystone, rbac.ADMIN) as admin:
        listed = check(admin.get("/v2/lbaas/quotas"), 200)["quotas"]
        assert {q["project_id"] for q in listed} >= {small.project_id}
