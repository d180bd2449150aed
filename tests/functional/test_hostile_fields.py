"""Every tenant-controlled field, hostile values, API to rendered haproxy configuration.

For each field a tenant can set through the API and each hostile value (line breaks,
Unicode separators, comment and quote characters, `%[...]` samples, `${VAR}`, IPv6 zone
ids, very long text), the API either refuses the request with a 400 in Octavia's fault
format, or the load balancer's stored graph renders to a configuration with exactly the
directive skeleton of the benign graph: the same lines, each with the same keyword and
the same number of words. The renderer's own word-level checks are in
tests/integration/test_render_haproxy_valid.py; this test goes through the API first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ostia.controller.worker.graph import read_snapshot
from tests.support.objects import (
    check,
    create_healthmonitor,
    create_l7policy,
    create_l7rule,
    create_lb,
    create_listener,
    create_member,
    create_pool,
    fault,
)
from tests.unit.test_render_haproxy_escape import haproxy_words
from tests.unit.test_render_haproxy_fixtures import directives, render

HOSTILE = [
    "a\nb",
    "x\r\n    option httpchk",
    "a\rb",
    "a\u2028b",
    "a\u2029b",
    "a\x85b",
    "a\x00b",
    "a#b",
    "a b",
    "'",
    '"',
    "\\",
    "x' if TRUE '",
    "%[env(HOME)]",
    "%{+Q}[src]",
    "${HOME}",
    "-f /etc/passwd",
    "}{",
    "fe80::1%x",
    "fe80::1%x sni env(HOME)",
    "fe80::1%x#y",
    "10.0.0.0%x/8",
    "v" * 5000,
]

Wrap = Callable[[str], Any]


def _same(value: str) -> Any:
    return value


def _listed(value: str) -> Any:
    return [value]


def _header_value(value: str) -> Any:
    return {"X-Forwarded-For": value}


def _header_name(value: str) -> Any:
    return {value: "true"}


def _in_path(value: str) -> Any:
    return "/" + value


def _in_url(value: str) -> Any:
    return "http://example.com/" + value


def _persistence_type(value: str) -> Any:
    return {"type": value}


def _cookie_name(value: str) -> Any:
    return {"type": "APP_COOKIE", "cookie_name": value}


# (object, API attribute, how a hostile string is sent). Objects are updated with PUT.
UPDATABLE: list[tuple[str, str, Wrap]] = [
    ("loadbalancer", "name", _same),
    ("loadbalancer", "description", _same),
    ("listener", "name", _same),
    ("listener", "description", _same),
    ("pool", "name", _same),
    ("pool", "description", _same),
    ("member", "name", _same),
    ("healthmonitor", "name", _same),
    ("l7policy", "name", _same),
    ("l7policy", "description", _same),
    ("loadbalancer", "tags", _listed),
    ("listener", "allowed_cidrs", _listed),
    ("listener", "insert_headers", _header_value),
    ("listener", "insert_headers", _header_name),
    ("listener", "connection_limit", _same),
    ("listener", "timeout_client_data", _same),
    ("listener", "timeout_member_connect", _same),
    ("listener", "timeout_member_data", _same),
    ("listener", "timeout_tcp_inspect", _same),
    ("listener", "tags", _listed),
    ("tls_listener", "default_tls_container_ref", _same),
    ("tls_listener", "sni_container_refs", _listed),
    ("tls_listener", "client_ca_tls_container_ref", _same),
    ("tls_listener", "client_crl_container_ref", _same),
    ("tls_listener", "client_authentication", _same),
    ("tls_listener", "tls_ciphers", _same),
    ("tls_listener", "tls_versions", _listed),
    ("tls_listener", "alpn_protocols", _listed),
    ("tls_listener", "hsts_max_age", _same),
    ("pool", "lb_algorithm", _same),
    ("pool", "session_persistence", _persistence_type),
    ("pool", "session_persistence", _cookie_name),
    ("tls_pool", "tls_container_ref", _same),
    ("tls_pool", "ca_tls_container_ref", _same),
    ("tls_pool", "crl_container_ref", _same),
    ("tls_pool", "tls_ciphers", _same),
    ("tls_pool", "tls_versions", _listed),
    ("tls_pool", "alpn_protocols", _listed),
    ("member", "monitor_address", _same),
    ("member", "monitor_port", _same),
    ("member", "weight", _same),
    ("member", "tags", _listed),
    ("healthmonitor", "url_path", _same),
    ("healthmonitor", "url_path", _in_path),
    ("healthmonitor", "http_method", _same),
    ("healthmonitor", "expected_codes", _same),
    ("healthmonitor", "domain_name", _same),
    ("healthmonitor", "http_version", _same),
    ("healthmonitor", "delay", _same),
    ("healthmonitor", "timeout", _same),
    ("healthmonitor", "max_retries", _same),
    ("healthmonitor", "max_retries_down", _same),
    ("redirect_url_policy", "redirect_url", _same),
    ("redirect_url_policy", "redirect_url", _in_url),
    ("redirect_prefix_policy", "redirect_prefix", _same),
    ("redirect_prefix_policy", "redirect_prefix", _in_url),
    ("l7rule", "value", _in_path),
    ("redirect_url_policy", "redirect_http_code", _same),
    ("l7policy", "position", _same),
    ("l7rule", "value", _same),
    ("header_rule", "key", _same),
    ("header_rule", "value", _same),
    ("cookie_rule", "key", _same),
    ("cookie_rule", "value", _same),
    ("l7rule", "compare_type", _same),
    ("l7rule", "type", _same),
]


# Fields where an ordinary value may also switch a feature off: its skeleton is allowed too
# (an insert_headers value other than "true" means "do not insert", as upstream reads it).
ALSO_BENIGN: dict[Wrap, str] = {
    _header_value: "false",
}


def _paths(ids: dict[str, str]) -> dict[str, tuple[str, str]]:
    """object -> (URL, body key)."""
    pools = "/v2/lbaas/pools"
    policies = "/v2/lbaas/l7policies"
    return {
        "loadbalancer": (f"/v2/lbaas/loadbalancers/{ids['lb']}", "loadbalancer"),
        "listener": (f"/v2/lbaas/listeners/{ids['listener']}", "listener"),
        "tls_listener": (f"/v2/lbaas/listeners/{ids['tls_listener']}", "listener"),
        "pool": (f"{pools}/{ids['pool']}", "pool"),
        "tls_pool": (f"{pools}/{ids['tls_pool']}", "pool"),
        "member": (f"{pools}/{ids['pool']}/members/{ids['member']}", "member"),
        "healthmonitor": (f"/v2/lbaas/healthmonitors/{ids['hm']}", "healthmonitor"),
        "l7policy": (f"{policies}/{ids['reject_policy']}", "l7policy"),
        "redirect_url_policy": (f"{policies}/{ids['url_policy']}", "l7policy"),
        "redirect_prefix_policy": (f"{policies}/{ids['prefix_policy']}", "l7policy"),
        "l7rule": (f"{policies}/{ids['reject_policy']}/rules/{ids['path_rule']}", "rule"),
        "header_rule": (f"{policies}/{ids['reject_policy']}/rules/{ids['header_rule']}", "rule"),
        "cookie_rule": (f"{policies}/{ids['url_policy']}/rules/{ids['cookie_rule']}", "rule"),
    }


def _benign_graph(client) -> dict[str, str]:
    """A load balancer with every field above set to an ordinary value."""
    lb = create_lb(client, name="lb", description="d")
    listener = create_listener(
        client,
        lb["id"],
        "HTTP",
        80,
        name="web",
        description="d",
        allowed_cidrs=["10.0.0.0/8"],
        connection_limit=100,
        insert_headers={"X-Forwarded-For": "true"},
        timeout_client_data=50000,
        timeout_member_connect=5000,
        timeout_member_data=50000,
        timeout_tcp_inspect=0,
    )
    pool = create_pool(
        client,
        listener_id=listener["id"],
        name="p",
        description="d",
        session_persistence={"type": "APP_COOKIE", "cookie_name": "SESSION"},
    )
    member = create_member(
        client,
        pool["id"],
        address="192.0.2.10",
        port=8080,
        name="m",
        monitor_address="192.0.2.11",
        monitor_port=8081,
        weight=5,
    )
    hm = create_healthmonitor(
        client,
        pool["id"],
        "HTTP",
        name="hm",
        url_path="/health",
        http_method="GET",
        expected_codes="200",
        http_version=1.1,
        domain_name="app.example.com",
        max_retries_down=3,
    )
    reject = create_l7policy(client, listener["id"], "REJECT", name="r", description="d", position=1)
    path_rule = create_l7rule(client, reject["id"], "PATH", "STARTS_WITH", "/admin")
    header_rule = create_l7rule(client, reject["id"], "HEADER", "EQUAL_TO", "v", key="X-H")
    url_policy = create_l7policy(
        client,
        listener["id"],
        "REDIRECT_TO_URL",
        redirect_url="http://example.com/",
        position=2,
        redirect_http_code=302,
    )
    cookie_rule = create_l7rule(client, url_policy["id"], "COOKIE", "EQUAL_TO", "v", key="c")
    prefix_policy = create_l7policy(
        client, listener["id"], "REDIRECT_PREFIX", redirect_prefix="https://example.com", position=3
    )
    create_l7rule(client, prefix_policy["id"], "HOST_NAME", "EQUAL_TO", "www.example.com")
    tls_listener = create_listener(
        client,
        lb["id"],
        "TERMINATED_HTTPS",
        443,
        default_tls_container_ref="cert",
        sni_container_refs=["sni"],
        client_ca_tls_container_ref="ca",
        client_crl_container_ref="crl",
        client_authentication="OPTIONAL",
        tls_ciphers="ECDHE-RSA-AES128-GCM-SHA256",
        tls_versions=["TLSv1.2"],
        alpn_protocols=["http/1.1"],
        hsts_max_age=100,
    )
    tls_pool = create_pool(
        client,
        listener_id=tls_listener["id"],
        tls_enabled=True,
        tls_container_ref="pcert",
        ca_tls_container_ref="pca",
        crl_container_ref="pcrl",
        tls_ciphers="ECDHE-RSA-AES128-GCM-SHA256",
        tls_versions=["TLSv1.2"],
        alpn_protocols=["http/1.1"],
    )
    create_member(client, tls_pool["id"], address="192.0.2.20", port=443)
    return {
        "lb": lb["id"],
        "listener": listener["id"],
        "tls_listener": tls_listener["id"],
        "pool": pool["id"],
        "tls_pool": tls_pool["id"],
        "member": member["id"],
        "hm": hm["id"],
        "reject_policy": reject["id"],
        "url_policy": url_policy["id"],
        "prefix_policy": prefix_policy["id"],
        "path_rule": path_rule["id"],
        "header_rule": header_rule["id"],
        "cookie_rule": cookie_rule["id"],
    }


def _skeleton(text: str) -> list[tuple[str, int]]:
    """Each directive's keyword and how many words haproxy reads on its line."""
    skeleton = []
    for line in directives(text):
        words = haproxy_words(line)
        skeleton.append((words[0], len(words)))
    return skeleton


def _rendered(api, lb_id: str) -> str:
    snapshot = read_snapshot(api.db, lb_id)
    assert snapshot is not None
    return render(snapshot.lb, log_targets=["127.0.0.1:514"])


def _accepted_or_refused(response) -> bool:
    """True when the API took the value; a refusal must be a 400 in the fault format."""
    if response.status_code in (200, 201, 202):
        return True
    fault(response, 400)
    return False


def test_hostile_values_are_refused_or_render_the_benign_skeleton(api, client):
    ids = _benign_graph(client)
    paths = _paths(ids)
    baseline = _skeleton(_rendered(api, ids["lb"]))
    assert len(baseline) > 60  # every feature above rendered something
    accepted: list[tuple[str, str, str]] = []
    for obj, attr, wrap in UPDATABLE:
        url, key = paths[obj]
        original = check(client.get(url), 200)[key][attr]
        allowed = [baseline]
        if wrap in ALSO_BENIGN:
            check(client.put(url, json={key: {attr: wrap(ALSO_BENIGN[wrap])}}), 200)
            allowed.append(_skeleton(_rendered(api, ids["lb"])))
        for value in HOSTILE:
            response = client.put(url, json={key: {attr: wrap(value)}})
            if not _accepted_or_refused(response):
                continue
            accepted.append((obj, attr, value))
            assert _skeleton(_rendered(api, ids["lb"])) in allowed, (obj, attr, value)
        check(client.put(url, json={key: {attr: original}}), 200)
        assert _skeleton(_rendered(api, ids["lb"])) == baseline, (obj, attr, "restored")
    # The free-text fields of the data plane took some values: the test rendered them.
    took = {attr for _, attr, _ in accepted}
    assert took >= {"url_path", "value", "key", "redirect_url", "redirect_prefix", "name"}, took


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_addresses_at_creation_are_refused(client, value):
    """Addresses given only at creation: no hostile value is a plain address."""
    lb = create_lb(client)
    pool = create_pool(client, loadbalancer_id=lb["id"])
    member = client.post(
        f"/v2/lbaas/pools/{pool['id']}/members", json={"member": {"address": value, "protocol_port": 9000}}
    )
    fault(member, 400)
    vip = client.post(
        "/v2/lbaas/loadbalancers",
        json={"loadbalancer": {"vip_subnet_id": "private-subnet", "vip_address": value}},
    )
    fault(vip, 400)
    extra_vip = client.post(
        "/v2/lbaas/loadbalancers",
        json={
            "loadbalancer": {
                "vip_subnet_id": "private-subnet",
                "additional_vips": [{"subnet_id": "public-subnet", "ip_address": value}],
            }
        },
    )
    fault(extra_vip, 400)
