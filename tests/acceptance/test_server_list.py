"""The seed guide's "visible with `openstack server list`" step, with the real CLI.

With `--os-endpoint`, every service the CLI discovers on the one root shares its version:
load-balancer and network need v2, and `server list` insists on an identity v3 proxy
first, so the CLI is told `--os-identity-api-version 3` (or OS_IDENTITY_API_VERSION=3).
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.acceptance.cli import OpenStackCLI
from tests.acceptance.service import OstiaService, wait_until

SERVER_LIST = "openstack --os-auth-type none --os-endpoint {url} --os-identity-api-version 3 server list"


@pytest.fixture(scope="module")
def amphora(cli: OpenStackCLI, ostia: OstiaService):
    created = cli.json(
        "loadbalancer", "create", "--name", "servers-lb", "--vip-subnet-id", "private-subnet", "--wait"
    )
    assert created["provisioning_status"] == "ACTIVE"
    (amp,) = wait_until(
        lambda: ostia.get("/v2/octavia/amphorae", loadbalancer_id=created["id"])["amphorae"],
        30,
        "the LB's amphora listed",
    )
    try:
        yield amp
    finally:
        cli.run("loadbalancer", "delete", "--cascade", "--wait", created["id"])


def test_server_list_shows_the_amphora_word_for_word(cli: OpenStackCLI, ostia: OstiaService, amphora):
    listed = cli.run_line(SERVER_LIST.format(url=ostia.url) + " -f json")
    assert listed.returncode == 0, listed.describe()
    servers = {s["Name"]: s for s in listed.json()}
    server = servers[f"amphora-{amphora['id']}"]
    assert server["ID"] == amphora["compute_id"]
    assert server["Status"] == "ACTIVE"
    assert server["Networks"] == {"lb-mgmt-net": [amphora["lb_network_ip"]]}
    table = cli.run_line(SERVER_LIST.format(url=ostia.url))
    assert f"amphora-{amphora['id']}" in table.stdout and "ACTIVE" in table.stdout


@pytest.mark.parametrize("by", ["name", "id"])
def test_server_show_by_name_or_id(cli: OpenStackCLI, amphora, by):
    ident = f"amphora-{amphora['id']}" if by == "name" else amphora["compute_id"]
    shown = cli.json("--os-identity-api-version", "3", "server", "show", ident)
    assert shown["id"] == amphora["compute_id"]
    assert shown["name"] == f"amphora-{amphora['id']}"
    assert shown["status"] == "ACTIVE"
    assert shown["addresses"] == {"lb-mgmt-net": [amphora["lb_network_ip"]]}
    assert shown["properties"]["load_balancer_id"] == amphora["loadbalancer_id"]


def test_server_show_of_an_unknown_server_is_one_line(cli: OpenStackCLI):
    result = cli.run("--os-identity-api-version", "3", "server", "show", "no-such-server")
    assert result.returncode == 1
    assert "No Server found for no-such-server" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_refused_call_prints_the_request_id(cli: OpenStackCLI, ostia: OstiaService):
    result = cli.run(
        "loadbalancer", "create", "--vip-subnet-id", "private-subnet", "--vip-address", "192.0.2.300"
    )
    assert result.returncode != 0
    printed = re.findall(r"Request-ID: (\S+?)\)", result.stderr)
    assert printed and all(p.startswith("req-") for p in printed), result.describe()
    assert "Request-ID: None" not in result.stderr
    # The operator finds the same id in the API's access log.
    assert printed[0] in wait_until(
        lambda: printed[0] in ostia.log() and ostia.log(), 10, "the request id in the log"
    )


def test_non_admin_sees_no_servers(ostia: OstiaService):
    response = httpx.get(
        ostia.url + "/v2/servers/detail", headers={"X-Roles": "member", "X-Project-Id": "p1"}, timeout=10
    )
    assert response.status_code == 200 and response.json() == {"servers": []}
