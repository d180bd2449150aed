"""openstacksdk with password auth finds Ostia through Keystone's catalog
(`load-balancer`) and runs a whole load balancer lifecycle on the noop provider."""

from __future__ import annotations

import openstack
import pytest
from openstack import exceptions as sdk_exc

from tests.support import rbac
from tests.support.keystone import Cloud
from tests.support.objects import check

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::Warning:openstack")]


def connect(keystone: Cloud, role: str) -> openstack.connection.Connection:
    user = keystone.user(role)
    return openstack.connection.Connection(
        auth_type="password",
        auth={
            "auth_url": keystone.server.v3,
            "username": user.name,
            "password": user.password,
            "project_name": user.project,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        region_name="RegionOne",
        interface="public",
    )


def active(conn: openstack.connection.Connection, lb_id: str) -> None:
    conn.load_balancer.wait_for_load_balancer(
        lb_id, status="ACTIVE", failures=["ERROR"], interval=0.2, wait=30
    )


def test_openstacksdk_runs_a_load_balancer_lifecycle(keystone_api, keystone):
    conn = connect(keystone, rbac.MEMBER)
    lbs = conn.load_balancer
    assert lbs.get_endpoint().rstrip("/").startswith(keystone_api.url)
    lb = lbs.create_load_balancer(name="sdk-lb", vip_subnet_id="private-subnet")
    assert lb.project_id == keystone.user(rbac.MEMBER).project_id
    active(conn, lb.id)
    listener = lbs.create_listener(name="sdk-http", protocol="HTTP", protocol_port=80, load_balancer_id=lb.id)
    active(conn, lb.id)
    pool = lbs.create_pool(
        name="sdk-pool", protocol="HTTP", lb_algorithm="ROUND_ROBIN", listener_id=listener.id
    )
    active(conn, lb.id)
    member = lbs.create_member(pool, address="192.0.2.10", protocol_port=8080)
    active(conn, lb.id)
    monitor = lbs.create_health_monitor(
        pool_id=pool.id, type="HTTP", delay=5, timeout=3, max_retries=3, url_path="/health"
    )
    active(conn, lb.id)
    policy = lbs.create_l7_policy(listener_id=listener.id, action="REJECT", name="sdk-l7")
    active(conn, lb.id)
    lbs.create_l7_rule(policy, type="PATH", compare_type="STARTS_WITH", value="/admin")
    active(conn, lb.id)

    assert [m.id for m in lbs.members(pool)] == [member.id]
    assert lbs.get_health_monitor(monitor.id).url_path == "/health"
    assert [p.name for p in lbs.l7_policies(listener_id=listener.id)] == ["sdk-l7"]
    assert lbs.get_load_balancer_statistics(lb.id).total_connections == 0
    lbs.update_load_balancer(lb.id, description="updated by the sdk")
    active(conn, lb.id)
    assert lbs.get_load_balancer(lb.id).description == "updated by the sdk"
    assert "sdk-lb" in {found.name for found in lbs.load_balancers()}
    project = keystone.user(rbac.MEMBER).project_id
    with keystone_api.client(**{"X-Auth-Token": keystone.token(rbac.MEMBER)}) as rest:
        expected = check(rest.get(f"/v2/lbaas/quotas/{project}"), 200)["quota"]
    assert lbs.get_quota(project).load_balancers == expected["loadbalancer"]

    # A reader of the same project sees it all but may change nothing.
    reader = connect(keystone, rbac.READER).load_balancer
    assert reader.get_load_balancer(lb.id).name == "sdk-lb"
    with pytest.raises(sdk_exc.ForbiddenException):
        reader.update_load_balancer(lb.id, description="not allowed")

    lbs.delete_load_balancer(lb.id, cascade=True)
    lbs.wait_for_delete(lb, interval=0.2, wait=30)
    with pytest.raises(sdk_exc.NotFoundException):
        lbs.get_load_balancer(lb.id)
