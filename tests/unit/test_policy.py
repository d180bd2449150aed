"""The policy layer: upstream's rule names, one policy per v2 route, list fallbacks,
policy file overrides, legacy roles, and the oslopolicy tools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ostia.api.app import resource_routes
from ostia.api.context import RequestContext
from ostia.api.policy import Authorizer, Decisions, route_key, route_table
from ostia.common import config as config_mod
from ostia.common import exceptions as exc
from ostia.policies import list_rules

BIN = Path(sys.executable).parent
PREFIX = "os_load-balancer_api:"
OBJECTS = (
    "loadbalancer",
    "listener",
    "pool",
    "member",
    "healthmonitor",
    "l7policy",
    "l7rule",
    "quota",
    "amphora",
    "provider",
    "provider-flavor",
    "provider-availability-zone",
    "flavor",
    "flavor-profile",
    "availability-zone",
    "availability-zone-profile",
)


def conf(**oslo_policy: object):  # type: ignore[no-untyped-def]
    c = config_mod.new_config()
    c([], project="octavia", default_config_files=[])
    for key, value in oslo_policy.items():
        c.set_override(key, value, "oslo_policy")
    return c


def ctx(*roles: str, project: str | None = "pa") -> RequestContext:
    return RequestContext(project_id=project, user_id="u", roles=roles)


def test_upstream_policy_names_are_registered():
    names = {rule.name for rule in list_rules()}
    for obj in ("loadbalancer", "listener", "pool", "healthmonitor", "l7policy"):
        for action in ("get_one", "get_all", "get_all-global", "post", "put", "delete"):
            assert f"{PREFIX}{obj}:{action}" in names
    for action in ("get_stats", "get_status", "put_failover"):
        assert f"{PREFIX}loadbalancer:{action}" in names
    for action in ("get_all", "get_one", "delete", "put_config", "put_failover", "get_stats"):
        assert f"{PREFIX}amphora:{action}" in names
    for obj in OBJECTS:
        assert any(n.startswith(f"{PREFIX}{obj}:") for n in names), obj
    assert {
        "context_is_admin",
        "load-balancer:read",
        "load-balancer:write",
        "load-balancer:read-quota",
        "load-balancer:write-quota",
    } <= names


def test_every_v2_route_maps_to_a_policy():
    table = route_table(list_rules())
    served = list(resource_routes().entries())
    assert len(served) > 100  # every resource, under /v2 and /v2.0
    missing = [
        f"{entry.method} {entry.template}"
        for entry in served
        if route_key(entry.method, entry.template) not in table
    ]
    assert not missing, f"routes without a policy (add them to ostia/policies): {missing}"


def test_route_keys_ignore_prefixes_and_parameter_names():
    assert (
        route_key("HEAD", "/v2.0/lbaas/pools/{pool_id}/members/{member_id}")
        == route_key("GET", "/v2/lbaas/pools/{id}/members/{mid}")
        == ("GET", "/pools/{}/members/{}")
    )


def test_lists_fall_back_from_global_to_the_callers_project():
    authorizer = Authorizer(conf())
    wide = authorizer.authorize("GET", "/v2/lbaas/loadbalancers", {}, {}, ctx("admin"))
    assert wide.sees_all_projects
    own = authorizer.authorize("GET", "/v2/lbaas/loadbalancers", {}, {}, ctx("reader"))
    assert not own.sees_all_projects and own.project_id == "pa"
    with pytest.raises(exc.PolicyForbidden):
        authorizer.authorize("GET", "/v2/lbaas/loadbalancers", {}, {"project_id": "pb"}, ctx("reader"))
    with pytest.raises(exc.PolicyForbidden):  # a token without a project lists nothing
        authorizer.authorize("GET", "/v2/lbaas/loadbalancers", {}, {}, ctx("reader", project=None))


def test_calls_on_one_object_are_scoped_to_the_callers_project():
    authorizer = Authorizer(conf())
    member = authorizer.authorize("PUT", "/v2/lbaas/pools/{pool_id}", {"pool_id": "x"}, {}, ctx("member"))
    assert not member.sees_all_projects and not member.is_admin
    with pytest.raises(exc.PolicyForbidden):
        authorizer.authorize("PUT", "/v2/lbaas/pools/{pool_id}", {}, {}, ctx("reader"))
    admin = authorizer.authorize("PUT", "/v2/lbaas/pools/{pool_id}", {}, {}, ctx("admin"))
    assert admin.sees_all_projects and admin.is_admin


def test_quota_of_a_named_project_needs_a_global_quota_reader():
    authorizer = Authorizer(conf())
    path = "/v2/lbaas/quotas/{project_id}"
    authorizer.authorize("GET", path, {"project_id": "pa"}, {}, ctx("reader"))
    with pytest.raises(exc.PolicyForbidden):
        authorizer.authorize("GET", path, {"project_id": "pb"}, {}, ctx("member"))
    quota_admin = authorizer.authorize(
        "PUT", path, {"project_id": "pb"}, {}, ctx("load-balancer_quota_admin")
    )
    assert quota_admin.sees_all_projects


def test_batch_member_update_needs_delete_unless_additive_only(tmp_path):
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"os_load-balancer_api:member:delete": "role:admin"\n')
    authorizer = Authorizer(conf(policy_file=str(policy_file)))
    path = "/v2/lbaas/pools/{pool_id}/members"
    with pytest.raises(exc.PolicyForbidden):
        authorizer.authorize("PUT", path, {}, {}, ctx("member"))
    authorizer.authorize("PUT", path, {}, {"additive_only": "true"}, ctx("member"))


def test_policy_file_overrides_a_default(tmp_path):
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(
        '"os_load-balancer_api:loadbalancer:get_one": "role:admin"\n'
        '"os_load-balancer_api:amphora:get_all": "rule:load-balancer:read"\n'
    )
    authorizer = Authorizer(conf(policy_file=str(policy_file)))
    with pytest.raises(exc.PolicyForbidden):
        authorizer.authorize("GET", "/v2/lbaas/loadbalancers/{lb_id}", {}, {}, ctx("reader"))
    authorizer.authorize("GET", "/v2/octavia/amphorae", {}, {}, ctx("reader"))


def test_legacy_roles_work_until_new_defaults_are_enforced():
    legacy = ctx("load-balancer_member")
    Authorizer(conf()).authorize("POST", "/v2/lbaas/listeners", {}, {}, legacy)
    strict = Authorizer(conf(enforce_new_defaults=True))
    with pytest.raises(exc.PolicyForbidden):
        strict.authorize("POST", "/v2/lbaas/listeners", {}, {}, legacy)
    assert not strict.is_admin(ctx("load-balancer_admin"))
    assert Authorizer(conf()).is_admin(ctx("load-balancer_admin"))


def test_a_route_without_policy_is_refused():
    with pytest.raises(exc.PolicyForbidden):
        Authorizer(conf()).authorize("GET", "/v2/lbaas/unknown", {}, {}, ctx("admin"))


def test_system_scoped_tokens_do_not_pass_project_scoped_rules():
    system_admin = RequestContext(project_id=None, roles=("admin",), system_scope="all")
    with pytest.raises(exc.PolicyForbidden):
        Authorizer(conf()).authorize("GET", "/v2/lbaas/loadbalancers", {}, {}, system_admin)


def test_the_oslopolicy_tools_know_the_octavia_namespace():
    sample = subprocess.run(
        [str(BIN / "oslopolicy-sample-generator"), "--namespace", "octavia"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sample.returncode == 0, sample.stderr
    assert (
        '#"os_load-balancer_api:loadbalancer:get_all-global": '
        '"rule:load-balancer:read-global"' in sample.stdout
    )
    effective = subprocess.run(
        [str(BIN / "oslopolicy-policy-generator"), "--namespace", "octavia"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert effective.returncode == 0, effective.stderr
    assert '"os_load-balancer_api:amphora:get_all": "rule:load-balancer:admin"' in effective.stdout


def test_field_rules_apply_when_the_body_sets_the_field(tmp_path):
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"os_load-balancer_api:loadbalancer:post:vip_sg_ids": "role:admin"\n')
    authorizer = Authorizer(conf(policy_file=str(policy_file)))
    path = "/v2/lbaas/loadbalancers"
    authorizer.authorize("POST", path, {}, {}, ctx("member"), ["name", "vip_subnet_id"])
    with pytest.raises(exc.PolicyForbidden):
        authorizer.authorize("POST", path, {}, {}, ctx("member"), ["vip_sg_ids"])


def test_verdicts_are_reused_briefly_then_asked_again():
    clock = iter([0.0, 0.5, 1.0, 5.0]).__next__
    decisions = Decisions(ttl=2.0, clock=clock)
    asked = []

    def decide() -> bool:
        asked.append(1)
        return True

    assert all(decisions.get(("rule", "p"), decide) for _ in range(4))
    assert len(asked) == 2  # at t=0 and again at t=5, past the TTL
