"""Octavia's RBAC with `auth_strategy = testing`: roles from headers, policy enforced.

The same expectations run against a real Keystone in tests/integration/test_keystone_rbac.py;
here they run in seconds, and the noauth behaviour stays as it was.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import rbac
from tests.support.live_api import LiveAPI, migrated_sqlite, running_api
from tests.support.objects import check, create_lb, fault

A, B = "project-a", "project-b"


def headers(role: str, project: str = A) -> dict[str, str]:
    if role == rbac.SERVICE:
        project = "service"
    return {
        "X-Roles": ",".join(rbac.with_implied(role)),
        "X-Project-Id": project,
        "X-User-Id": f"{project}-{role}",
    }


@pytest.fixture(scope="module")
def testing_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAPI]:
    path = tmp_path_factory.mktemp("rbac") / "octavia.db"
    with running_api(migrated_sqlite(str(path)), {"api_settings": {"auth_strategy": "testing"}}) as api:
        yield api


@pytest.fixture(scope="module")
def world(testing_api: LiveAPI) -> rbac.World:
    with testing_api.client(**headers(rbac.ADMIN)) as admin:
        built = rbac.build_world(admin, A, B)
    with testing_api.client(**headers(rbac.MEMBER, B)) as member_b:
        create_lb(member_b, name="of-b")
    return built


@pytest.mark.parametrize("resource", rbac.RESOURCES)
@pytest.mark.parametrize("role", rbac.ROLES)
def test_each_role_gets_what_the_policy_says(testing_api, world, role, resource):
    probes = [p for p in world.probes() if p.resource == resource]
    assert probes
    with testing_api.client(**headers(role)) as client:
        errors = [e for p in probes if (e := rbac.check_probe(client, role, p))]
    assert not errors, errors


def test_project_callers_see_only_their_project(testing_api, world):
    with testing_api.client(**headers(rbac.MEMBER, B)) as member_b:
        names = [lb["name"] for lb in check(member_b.get("/v2/lbaas/loadbalancers"), 200)["loadbalancers"]]
        assert names == ["of-b"]
        fault(member_b.get(f"/v2/lbaas/loadbalancers/{world.ids['lb']}"), 404)
        fault(
            member_b.put(
                f"/v2/lbaas/listeners/{world.ids['listener']}", json={"listener": {"name": "stolen"}}
            ),
            404,
        )
        assert check(member_b.get("/v2/lbaas/pools"), 200)["pools"] == []
    with testing_api.client(**headers(rbac.LB_GLOBAL_OBSERVER)) as observer:
        names = {lb["name"] for lb in check(observer.get("/v2/lbaas/loadbalancers"), 200)["loadbalancers"]}
        assert {"rbac", "of-b"} <= names


def test_creating_in_another_project_needs_admin(testing_api, world):
    body = {"loadbalancer": {"vip_subnet_id": "private-subnet", "project_id": B}}
    with testing_api.client(**headers(rbac.MEMBER)) as member_a:
        fault(member_a.post("/v2/lbaas/loadbalancers", json=body), 403)
    with testing_api.client(**headers(rbac.ADMIN)) as admin_a:
        created = check(admin_a.post("/v2/lbaas/loadbalancers", json=body), 201)
        assert created["loadbalancer"]["project_id"] == B


def test_no_roles_means_no_access(testing_api, world):
    with testing_api.client(**{"X-Project-Id": A}) as nobody:
        fault(nobody.get("/v2/lbaas/loadbalancers"), 403)
        assert check(nobody.get("/"), 200)["versions"]


def test_noauth_keeps_header_roles_and_admin_default(tmp_path):
    with running_api(migrated_sqlite(f"{tmp_path}/o.db")) as api, api.client() as client:
        assert check(client.get("/v2/octavia/amphorae"), 200) == {"amphorae": [], "amphorae_links": []}
        fault(client.get("/v2/octavia/amphorae", headers={"X-Roles": "member"}), 403)


def test_an_oversized_body_is_413_before_any_policy(testing_api):
    body = {"loadbalancer": {"vip_subnet_id": "private-subnet", "name": "x" * 200_000}}
    with testing_api.client() as nobody:  # no roles: the policy would say 403
        assert fault(nobody.post("/v2/lbaas/loadbalancers", json=body), 413) == "Request is too large."


def test_a_field_rule_from_the_policy_file_guards_that_field(tmp_path):
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"os_load-balancer_api:loadbalancer:post:vip_sg_ids": "role:admin"\n')
    overrides = {
        "api_settings": {"auth_strategy": "testing"},
        "oslo_policy": {"policy_file": str(policy_file)},
    }
    with (
        running_api(migrated_sqlite(f"{tmp_path}/o.db"), overrides) as api,
        api.client(**headers(rbac.MEMBER)) as member,
    ):
        body = {"vip_subnet_id": "private-subnet", "vip_sg_ids": ["sg-1"]}
        assert (
            fault(member.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body}), 403)
            == rbac.POLICY_DENIED
        )
        plain = {"loadbalancer": {"vip_subnet_id": "private-subnet", "name": "plain"}}
        assert check(member.post("/v2/lbaas/loadbalancers", json=plain), 201)
