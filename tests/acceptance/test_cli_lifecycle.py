"""The operator guide's test deployment, then the tenant cookbook, through the real CLI.

One `ostia up` (default `amphora` provider: real haproxy amphorae) and one load balancer,
lb1, carried from step to step: each test is one step of the walk-through and needs the
ones before it (a step whose prerequisite failed is skipped, naming what it needed).
Commands use `-f json` and `--wait` where the client offers them; the data plane is
checked with plain HTTP on the VIP.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from tests.acceptance.cli import OpenStackCLI, Result
from tests.acceptance.service import OstiaService, wait_until
from tests.support.backends import HttpBackend, fetch

# The operator guide's lines, as printed by `ostia up` and in docs/operator-guide.md.
GUIDE_CREATE = (
    "openstack --os-auth-type none --os-endpoint {url} "
    "loadbalancer create --name lb1 --vip-subnet-id private-subnet"
)
GUIDE_SHOW = "openstack --os-auth-type none --os-endpoint {url} loadbalancer show lb1"
GUIDE_LISTENER = (
    "openstack --os-auth-type none --os-endpoint {url} "
    "loadbalancer listener create --name listener1 --protocol HTTP "
    "--protocol-port 80 lb1"
)
ACTIVE_TIMEOUT = 60.0


class Walkthrough:
    """What earlier steps made, for later ones."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        self.values[key] = value

    def __getitem__(self, key: str) -> Any:
        if key not in self.values:
            pytest.skip(f"needs the earlier step that makes {key!r}")
        return self.values[key]


@pytest.fixture(scope="module")
def walk() -> Walkthrough:
    return Walkthrough()


def table(result: Result) -> dict[str, str]:
    """The Field/Value table `openstack ... show` prints by default."""
    rows: dict[str, str] = {}
    for line in result.stdout.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 2 and cells[0] != "Field":
            rows[cells[0]] = cells[1]
    return rows


def in_cidr(address: str, cidr: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(cidr)


def wait_active(ostia: OstiaService, lb_id: str) -> dict[str, Any]:
    def active() -> dict[str, Any] | None:
        lb = ostia.get(f"/v2/lbaas/loadbalancers/{lb_id}")["loadbalancer"]
        if lb["provisioning_status"] == "ERROR":
            raise RuntimeError(f"load balancer in ERROR; ostia's log ends:\n{ostia.log()[-3000:]}")
        return lb if lb["provisioning_status"] == "ACTIVE" else None

    return wait_until(active, ACTIVE_TIMEOUT, f"load balancer {lb_id} ACTIVE")


def answers(vip: str, path: str = "/") -> tuple[int, str]:
    return fetch(vip, 80, path, timeout=3)


def bodies(vip: str, count: int) -> list[str]:
    return [answers(vip)[1] for _ in range(count)]


def test_unknown_vip_subnet_stops_the_create_in_the_client(cli: OpenStackCLI):
    result = cli.run("loadbalancer", "create", "--name", "nowhere", "--vip-subnet-id", "no-such-subnet")
    assert result.returncode == 1, result.describe()
    assert "Unable to locate no-such-subnet in subnets" in result.stderr


def test_network_cli_sees_the_vip_subnets(cli: OpenStackCLI, ostia: OstiaService, walk: Walkthrough):
    subnet = cli.json("subnet", "show", "private-subnet")
    assert subnet["cidr"] == ostia.private_cidr and subnet["ip_version"] == 4
    walk["private_subnet_id"] = subnet["id"]


def test_guide_test_deployment_word_for_word(cli: OpenStackCLI, ostia: OstiaService, walk: Walkthrough):
    created = cli.run_line(GUIDE_CREATE.format(url=ostia.url))
    assert created.returncode == 0, created.describe()
    fields = table(created)
    assert fields["name"] == "lb1" and fields["provider"] == "amphora"
    assert fields["provisioning_status"] in ("PENDING_CREATE", "ACTIVE")
    assert in_cidr(fields["vip_address"], ostia.private_cidr)
    wait_active(ostia, fields["id"])

    shown = cli.run_line(GUIDE_SHOW.format(url=ostia.url))
    assert shown.returncode == 0, shown.describe()
    assert table(shown)["provisioning_status"] == "ACTIVE"
    assert table(shown)["vip_address"] == fields["vip_address"]

    listener = cli.run_line(GUIDE_LISTENER.format(url=ostia.url))
    assert listener.returncode == 0, listener.describe()
    assert table(listener)["name"] == "listener1"
    assert table(listener)["protocol_port"] == "80"
    walk["lb_id"], walk["vip"] = fields["id"], fields["vip_address"]
    wait_active(ostia, fields["id"])


def test_listener_without_pool_answers_503_on_the_vip(walk: Walkthrough):
    vip = walk["vip"]
    status, _ = wait_until(lambda: answers(vip), 20, f"{vip}:80 answering")
    assert status == 503


def test_pool_and_two_members_then_traffic_alternates(
    cli: OpenStackCLI, walk: Walkthrough, backends: list[HttpBackend]
):
    a, b = backends
    pool = cli.json(
        "loadbalancer",
        "pool",
        "create",
        "--name",
        "pool1",
        "--lb-algorithm",
        "ROUND_ROBIN",
        "--listener",
        "listener1",
        "--protocol",
        "HTTP",
        "--wait",
    )
    assert pool["provisioning_status"] == "ACTIVE" and pool["lb_algorithm"] == "ROUND_ROBIN"
    member_a = cli.json(
        "loadbalancer",
        "member",
        "create",
        "--name",
        "member-a",
        "--subnet-id",
        "private-subnet",
        "--address",
        a.address,
        "--protocol-port",
        str(a.port),
        "--wait",
        "pool1",
    )
    assert member_a["subnet_id"] == walk["private_subnet_id"]
    member_b = cli.json(
        "loadbalancer",
        "member",
        "create",
        "--name",
        "member-b",
        "--address",
        b.address,
        "--protocol-port",
        str(b.port),
        "--wait",
        "pool1",
    )
    assert member_a["provisioning_status"] == member_b["provisioning_status"] == "ACTIVE"
    walk["pool_id"] = pool["id"]

    seen = bodies(walk["vip"], 6)
    assert sorted(set(seen)) == ["a", "b"], seen
    assert all(x != y for x, y in zip(seen, seen[1:], strict=False)), seen


def test_health_monitor_then_status_tree_shows_members_online(
    cli: OpenStackCLI, ostia: OstiaService, walk: Walkthrough
):
    monitor = cli.json(
        "loadbalancer",
        "healthmonitor",
        "create",
        "--name",
        "hm1",
        "--delay",
        "1",
        "--timeout",
        "1",
        "--max-retries",
        "1",
        "--type",
        "HTTP",
        "--url-path",
        "/",
        "--wait",
        "pool1",
    )
    assert monitor["provisioning_status"] == "ACTIVE" and monitor["type"] == "HTTP"

    def members_online() -> bool:
        tree = ostia.get(f"/v2/lbaas/loadbalancers/{walk['lb_id']}/status")
        members = tree["statuses"]["loadbalancer"]["listeners"][0]["pools"][0]["members"]
        return len(members) == 2 and all(m["operating_status"] == "ONLINE" for m in members)

    wait_until(members_online, 30, "members ONLINE from health checks")
    result = cli.ok("loadbalancer", "status", "show", "lb1")
    lb = json.loads(result.stdout)["loadbalancer"]
    assert lb["name"] == "lb1" and lb["provisioning_status"] == "ACTIVE"
    (listener,) = lb["listeners"]
    (pool,) = listener["pools"]
    assert listener["name"] == "listener1" and pool["name"] == "pool1"
    assert pool["health_monitor"]["name"] == "hm1"
    assert sorted(m["name"] for m in pool["members"]) == ["member-a", "member-b"]
    assert {m["operating_status"] for m in pool["members"]} == {"ONLINE"}


def test_stats_show_counts_the_traffic(cli: OpenStackCLI, ostia: OstiaService, walk: Walkthrough):
    bodies(walk["vip"], 4)

    def counted() -> bool:
        stats = ostia.get(f"/v2/lbaas/loadbalancers/{walk['lb_id']}/stats")["stats"]
        return stats["total_connections"] >= 4

    wait_until(counted, 20, "stats from heartbeats")
    stats = cli.json("loadbalancer", "stats", "show", "lb1")
    assert stats["total_connections"] >= 4 and stats["bytes_out"] > 0
    assert set(stats) >= {"active_connections", "bytes_in", "request_errors"}


def test_l7_policy_and_rule_reject_a_path(cli: OpenStackCLI, walk: Walkthrough):
    policy = cli.json(
        "loadbalancer",
        "l7policy",
        "create",
        "--name",
        "reject-blocked",
        "--action",
        "REJECT",
        "--wait",
        "listener1",
    )
    assert policy["provisioning_status"] == "ACTIVE" and policy["action"] == "REJECT"
    rule = cli.json(
        "loadbalancer",
        "l7rule",
        "create",
        "--compare-type",
        "STARTS_WITH",
        "--type",
        "PATH",
        "--value",
        "/blocked",
        "--wait",
        "reject-blocked",
    )
    assert rule["provisioning_status"] == "ACTIVE" and rule["value"] == "/blocked"
    assert answers(walk["vip"], "/blocked/page")[0] == 403
    assert answers(walk["vip"], "/open")[0] == 200


def test_disabled_member_gets_no_traffic(cli: OpenStackCLI, walk: Walkthrough):
    cli.ok("loadbalancer", "member", "set", "--disable", "--wait", "pool1", "member-a")
    member = cli.json("loadbalancer", "member", "show", "pool1", "member-a")
    assert member["admin_state_up"] is False
    assert bodies(walk["vip"], 4) == ["b"] * 4


def test_failover_replaces_the_amphora_and_keeps_serving(cli: OpenStackCLI, walk: Walkthrough):
    (before,) = cli.json("loadbalancer", "amphora", "list", "--loadbalancer", "lb1")
    cli.ok("loadbalancer", "failover", "--wait", "lb1")
    (after,) = cli.json("loadbalancer", "amphora", "list", "--loadbalancer", "lb1")
    assert after["id"] != before["id"]
    shown = cli.json("loadbalancer", "amphora", "show", after["id"])
    assert shown["loadbalancer_id"] == walk["lb_id"] and shown["status"] == "ALLOCATED"
    assert shown["role"] == "STANDALONE" and shown["lb_network_ip"] == after["lb_network_ip"]
    assert bodies(walk["vip"], 2) == ["b", "b"]


def test_quota_set_and_show_for_a_project(cli: OpenStackCLI):
    changed = cli.json("loadbalancer", "quota", "set", "--loadbalancer", "5", "--listener", "10", "demo")
    assert changed["load_balancer"] == 5 and changed["listener"] == 10
    shown = cli.json("loadbalancer", "quota", "show", "demo")
    assert shown["load_balancer"] == 5 and shown["pool"] == -1


def test_provider_list(cli: OpenStackCLI):
    names = {p["name"] for p in cli.json("loadbalancer", "provider", "list")}
    assert {"amphora", "noop_driver"} <= names


def test_flavor_profile_flavor_and_a_load_balancer_of_that_flavor(cli: OpenStackCLI, ostia: OstiaService):
    profile = cli.json(
        "loadbalancer",
        "flavorprofile",
        "create",
        "--name",
        "single",
        "--provider",
        "amphora",
        "--flavor-data",
        '{"loadbalancer_topology": "SINGLE"}',
    )
    assert profile["provider_name"] == "amphora"
    flavor = cli.json(
        "loadbalancer", "flavor", "create", "--name", "small", "--flavorprofile", "single", "--enable"
    )
    assert flavor["flavor_profile_id"] == profile["id"] and flavor["enabled"] is True
    lb = cli.json(
        "loadbalancer",
        "create",
        "--name",
        "lb-small",
        "--flavor",
        "small",
        "--vip-subnet-id",
        "public-subnet",
        "--wait",
    )
    assert lb["flavor_id"] == flavor["id"] and lb["provisioning_status"] == "ACTIVE"
    assert in_cidr(lb["vip_address"], ostia.public_cidr)
    cli.ok("loadbalancer", "delete", "--wait", "lb-small")


def test_availability_zone_profile_and_zone(cli: OpenStackCLI):
    profile = cli.json(
        "loadbalancer",
        "availabilityzoneprofile",
        "create",
        "--name",
        "local",
        "--provider",
        "amphora",
        "--availability-zone-data",
        '{"compute_zone": "local"}',
    )
    assert profile["provider_name"] == "amphora"
    zone = cli.json(
        "loadbalancer", "availabilityzone", "create", "--name", "az1", "--availabilityzoneprofile", "local"
    )
    assert zone["availability_zone_profile_id"] == profile["id"] and zone["enabled"] is True
    assert [z["name"] for z in cli.json("loadbalancer", "availabilityzone", "list")] == ["az1"]


def test_cascade_delete_removes_everything(cli: OpenStackCLI, walk: Walkthrough):
    vip = walk["vip"]
    cli.ok("loadbalancer", "delete", "--cascade", "--wait", "lb1")
    gone = cli.run("loadbalancer", "show", "lb1")
    assert gone.returncode == 1, gone.describe()
    amphorae = cli.json("loadbalancer", "amphora", "list")
    left = [a for a in amphorae if a["loadbalancer_id"] == walk["lb_id"] and a["status"] != "DELETED"]
    assert left == []

    def refused() -> bool:
        try:
            answers(vip)
        except OSError:
            return True
        return False

    wait_until(refused, 10, f"{vip}:80 no longer answering")
