"""The same service through openstacksdk's `conn.load_balancer` and `conn.network` proxies.

`openstack.connect(auth_type='none', auth={'endpoint': URL})` is the README's way in; the
SDK discovers the versions at `/`, follows the `/v2` link and lists with `limit`/`marker`
by following `loadbalancers_links`. API-only steps use the `noop_driver` provider (ACTIVE
at once); the lifecycle uses the default `amphora` provider and checks the data plane.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import openstack
import pytest
from openstack import exceptions as sdk_exc

from tests.acceptance.service import OstiaService, wait_until
from tests.support.backends import HttpBackend, fetch

NOOP = "noop_driver"
# The SDK warns about its own deprecations on every call; they are not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::Warning:openstack.*")


@pytest.fixture(scope="module")
def conn(ostia: OstiaService) -> Iterator[openstack.connection.Connection]:
    # Only what the call names: no clouds.yaml or OS_* variables of the machine's.
    connection = openstack.connect(
        auth_type="none", auth={"endpoint": ostia.url}, load_yaml_config=False, load_envvars=False
    )
    try:
        yield connection
    finally:
        connection.close()


def test_lifecycle_with_waits_and_traffic(conn, backends: list[HttpBackend]):
    subnet = conn.network.find_subnet("private-subnet", ignore_missing=False)
    lb = conn.load_balancer.create_load_balancer(name="sdk-lb", vip_subnet_id=subnet.id)
    assert lb.provisioning_status in ("PENDING_CREATE", "ACTIVE")
    lb = conn.load_balancer.wait_for_load_balancer(lb.id, interval=0.2, wait=60)
    assert lb.provisioning_status == "ACTIVE" and lb.provider == "amphora"
    listener = conn.load_balancer.create_listener(
        name="sdk-web", loadbalancer_id=lb.id, protocol="HTTP", protocol_port=8080
    )
    conn.load_balancer.wait_for_load_balancer(lb.id, interval=0.2, wait=60)
    pool = conn.load_balancer.create_pool(
        name="sdk-pool", listener_id=listener.id, protocol="HTTP", lb_algorithm="ROUND_ROBIN"
    )
    conn.load_balancer.wait_for_load_balancer(lb.id, interval=0.2, wait=60)
    a = backends[0]
    member = conn.load_balancer.create_member(
        pool, address=a.address, protocol_port=a.port, subnet_id=subnet.id
    )
    conn.load_balancer.wait_for_load_balancer(lb.id, interval=0.2, wait=60)
    assert conn.load_balancer.get_member(member, pool).provisioning_status == "ACTIVE"
    assert wait_until(
        lambda: fetch(lb.vip_address, 8080, timeout=3), 20, "the SDK's load balancer serving"
    ) == (200, "a")

    conn.load_balancer.delete_load_balancer(lb, cascade=True)
    conn.load_balancer.wait_for_delete(lb, interval=0.2, wait=60)
    with pytest.raises(sdk_exc.NotFoundException):
        conn.load_balancer.get_load_balancer(lb.id)


def test_tags_set_filter_and_replace(conn):
    tagged = conn.load_balancer.create_load_balancer(
        name="tagged",
        vip_subnet_id="private-subnet",
        provider=NOOP,
        tags=["web", "blue"],
        project_id="sdk-tags",
    )
    plain = conn.load_balancer.create_load_balancer(
        name="plain", vip_subnet_id="private-subnet", provider=NOOP, project_id="sdk-tags"
    )
    assert sorted(tagged.tags) == ["blue", "web"]

    def names(**query: str) -> list[str]:
        found = conn.load_balancer.load_balancers(project_id="sdk-tags", **query)
        return sorted(lb.name for lb in found)

    assert names(tags="web") == ["tagged"]
    assert names(tags="web,green") == []
    assert names(any_tags="green,blue") == ["tagged"]
    assert names(not_tags="web") == ["plain"]
    updated = conn.load_balancer.update_load_balancer(tagged, tags=["green"])
    assert updated.tags == ["green"]
    assert names(tags="web") == [] and names(tags="green") == ["tagged"]
    for lb in (tagged, plain):
        conn.load_balancer.delete_load_balancer(lb)


def test_listing_with_limit_follows_links_over_25_load_balancers(conn, ostia: OstiaService):
    project = f"sdk-pages-{uuid.uuid4().hex[:8]}"
    created = {
        conn.load_balancer.create_load_balancer(
            name=f"page-{n:02d}", vip_subnet_id="private-subnet", provider=NOOP, project_id=project
        ).id
        for n in range(26)
    }
    first = ostia.get("/v2/lbaas/loadbalancers", limit=10, project_id=project)
    assert len(first["loadbalancers"]) == 10
    assert [link["rel"] for link in first["loadbalancers_links"]] == ["next"]

    listed = [lb.id for lb in conn.load_balancer.load_balancers(limit=10, project_id=project)]
    assert len(listed) == 26 and set(listed) == created
    # The default order (created_at, id) holds across pages of another size.
    in_order = [lb.name for lb in conn.load_balancer.load_balancers(limit=7, project_id=project)]
    assert in_order == [f"page-{n:02d}" for n in range(26)]


def test_errors_map_to_sdk_exceptions_with_the_servers_faultstring(conn):
    with pytest.raises(sdk_exc.BadRequestException) as bad:
        conn.load_balancer.create_load_balancer(vip_subnet_id="private-subnet", provider="no-such-provider")
    assert bad.value.status_code == 400
    assert bad.value.details == "Provider 'no-such-provider' is not enabled."

    lb = conn.load_balancer.create_load_balancer(vip_subnet_id="private-subnet", provider=NOOP)
    with pytest.raises(sdk_exc.BadRequestException) as invalid:
        conn.load_balancer.create_listener(loadbalancer_id=lb.id, protocol="HTTP", protocol_port=70000)
    assert "protocol_port" in str(invalid.value.details)

    missing = str(uuid.uuid4())
    with pytest.raises(sdk_exc.NotFoundException) as not_found:
        conn.load_balancer.get_load_balancer(missing)
    assert not_found.value.details == f"Load Balancer {missing} not found."
    conn.load_balancer.delete_load_balancer(lb)


def test_network_proxy_resolves_subnets_and_says_what_is_missing(conn, ostia: OstiaService):
    subnet = conn.network.find_subnet("public-subnet", ignore_missing=False)
    assert subnet.cidr == ostia.public_cidr and subnet.ip_version == 4
    network = conn.network.get_network(subnet.network_id)
    assert network.name == "public" and network.subnet_ids == [subnet.id]
    assert list(conn.network.ports()) == [] and list(conn.network.security_groups()) == []
    with pytest.raises(sdk_exc.NotFoundException) as missing:
        conn.network.get_subnet("no-such-subnet")
    assert "No Subnet found for no-such-subnet" in str(missing.value)
    assert conn.network.find_subnet("no-such-subnet") is None


def test_unversioned_load_balancer_endpoint_override_works(ostia: OstiaService):
    connection = openstack.connect(
        auth_type="none",
        auth={"endpoint": ostia.url},
        load_balancer_endpoint_override=ostia.url,
        load_yaml_config=False,
        load_envvars=False,
    )
    try:
        assert isinstance(list(connection.load_balancer.providers()), list)
    finally:
        connection.close()
