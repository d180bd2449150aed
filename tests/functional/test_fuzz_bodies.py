"""Random request bodies against every create and update call.

Whatever the body, the API must never answer 500, every 4xx must be an Octavia fault
body, and a refused request must leave every list exactly as it was.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import string
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.live_api import LiveAPI, migrated_sqlite, running_api
from tests.support.objects import (
    check,
    create_l7policy,
    create_l7rule,
    create_lb,
    create_listener,
    insert_pool,
)

# ---- a small world every request can refer to ----------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAPI]:
    path = tmp_path_factory.mktemp("fuzz") / "octavia.db"
    with running_api(migrated_sqlite(str(path))) as api:
        yield api


@pytest.fixture(scope="module")
def world(live: LiveAPI) -> Iterator[dict[str, Any]]:
    with live.client() as client:
        lb = create_lb(client, name="fuzz")
        listener = create_listener(client, lb["id"], "HTTP", 80)
        pool_id = _pool(live, client, lb["id"])
        member_id = _optional(client, f"/v2/lbaas/pools/{pool_id}/members", "member",
                              {"address": "192.0.2.10", "protocol_port": 80})
        monitor_id = _optional(client, "/v2/lbaas/healthmonitors", "healthmonitor",
                               {"pool_id": pool_id, "type": "HTTP", "delay": 5,
                                "timeout": 3, "max_retries": 3})
        policy = create_l7policy(client, listener["id"], "REJECT")
        rule = create_l7rule(client, policy["id"])
        fp = check(client.post("/v2/lbaas/flavorprofiles", json={"flavorprofile": {
            "name": "fp", "provider_name": "noop_driver", "flavor_data": "{}"}}),
            201)["flavorprofile"]
        flavor = check(client.post("/v2/lbaas/flavors", json={"flavor": {
            "name": "f", "flavor_profile_id": fp["id"]}}), 201)["flavor"]
        azp = check(client.post("/v2/lbaas/availabilityzoneprofiles", json={
            "availability_zone_profile": {"name": "azp", "provider_name": "noop_driver",
                                          "availability_zone_data": "{}"}}),
            201)["availability_zone_profile"]
        check(client.post("/v2/lbaas/availabilityzones", json={"availability_zone": {
            "name": "az", "availability_zone_profile_id": azp["id"]}}), 201)
        check(client.put(f"/v2/lbaas/quotas/{lb['project_id']}", json={"quota": {
            "pool": 100}}), 202)
        yield {"lb": lb["id"], "listener": listener["id"], "pool": pool_id,
               "member": member_id or str(uuid.uuid4()),
               "monitor": monitor_id or str(uuid.uuid4()), "policy": policy["id"],
               "rule": rule["id"], "flavorprofile": fp["id"], "flavor": flavor["id"],
               "azprofile": azp["id"], "project": lb["project_id"]}


def _pool(live: LiveAPI, client: httpx.Client, lb_id: str) -> str:
    response = client.post("/v2/lbaas/pools", json={"pool": {
        "loadbalancer_id": lb_id, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}})
    if response.status_code == 201:
        return str(response.json()["pool"]["id"])
    return insert_pool(live, lb_id)  # before the pools API exists


def _optional(client: httpx.Client, url: str, root: str, body: dict[str, Any]) -> str | None:
    response = client.post(url, json={root: body})
    return str(response.json()[root]["id"]) if response.status_code == 201 else None


# ---- every create and update call, with the attributes it knows ----------------------

COMMON = ["name", "description", "admin_state_up", "tags", "project_id", "tenant_id"]
CALLS: list[tuple[str, str, str, list[str]]] = [
    # (method, path template, root key, known attributes)
    ("POST", "/v2/lbaas/loadbalancers", "loadbalancer",
     COMMON + ["vip_subnet_id", "vip_network_id", "vip_port_id", "vip_address",
               "vip_qos_policy_id", "vip_sg_ids", "additional_vips", "provider", "flavor_id",
               "availability_zone", "listeners", "pools"]),
    ("PUT", "/v2/lbaas/loadbalancers/{lb}", "loadbalancer",
     COMMON + ["vip_qos_policy_id", "vip_sg_ids"]),
    ("POST", "/v2/lbaas/listeners", "listener",
     COMMON + ["loadbalancer_id", "protocol", "protocol_port", "connection_limit",
               "default_pool_id", "default_tls_container_ref", "sni_container_refs",
               "insert_headers", "timeout_client_data", "allowed_cidrs", "tls_versions",
               "alpn_protocols", "hsts_max_age", "client_authentication"]),
    ("PUT", "/v2/lbaas/listeners/{listener}", "listener",
     COMMON + ["connection_limit", "default_pool_id", "insert_headers", "allowed_cidrs",
               "timeout_member_data", "tls_ciphers"]),
    ("POST", "/v2/lbaas/pools", "pool",
     COMMON + ["loadbalancer_id", "listener_id", "protocol", "lb_algorithm",
               "session_persistence", "tls_enabled", "tls_versions", "ca_tls_container_ref"]),
    ("PUT", "/v2/lbaas/pools/{pool}", "pool",
     COMMON + ["lb_algorithm", "session_persistence", "tls_enabled", "tls_ciphers"]),
    ("POST", "/v2/lbaas/pools/{pool}/members", "member",
     COMMON + ["address", "protocol_port", "weight", "backup", "subnet_id",
               "monitor_address", "monitor_port", "request_sriov"]),
    ("PUT", "/v2/lbaas/pools/{pool}/members/{member}", "member",
     COMMON + ["weight", "backup", "monitor_address", "monitor_port"]),
    ("PUT", "/v2/lbaas/pools/{pool}/members", "members", []),
    ("POST", "/v2/lbaas/healthmonitors", "healthmonitor",
     COMMON + ["pool_id", "type", "delay", "timeout", "max_retries", "max_retries_down",
               "http_method", "url_path", "expected_codes", "http_version", "domain_name"]),
    ("PUT", "/v2/lbaas/healthmonitors/{monitor}", "healthmonitor",
     COMMON + ["delay", "timeout", "max_retries", "url_path", "expected_codes",
               "domain_name"]),
    ("POST", "/v2/lbaas/l7policies", "l7policy",
     COMMON + ["listener_id", "action", "redirect_pool_id", "redirect_url",
               "redirect_prefix", "redirect_http_code", "position", "rules"]),
    ("PUT", "/v2/lbaas/l7policies/{policy}", "l7policy",
     COMMON + ["action", "redirect_pool_id", "redirect_url", "redirect_prefix",
               "redirect_http_code", "position"]),
    ("POST", "/v2/lbaas/l7policies/{policy}/rules", "rule",
     COMMON + ["type", "compare_type", "key", "value", "invert"]),
    ("PUT", "/v2/lbaas/l7policies/{policy}/rules/{rule}", "rule",
     COMMON + ["type", "compare_type", "key", "value", "invert"]),
    ("PUT", "/v2/lbaas/quotas/{project}", "quota",
     ["loadbalancer", "load_balancer", "listener", "member", "pool", "healthmonitor",
      "health_monitor", "l7policy", "l7rule"]),
    ("POST", "/v2/lbaas/flavorprofiles", "flavorprofile",
     ["name", "provider_name", "flavor_data"]),
    ("PUT", "/v2/lbaas/flavorprofiles/{flavorprofile}", "flavorprofile",
     ["name", "provider_name", "flavor_data"]),
    ("POST", "/v2/lbaas/flavors", "flavor",
     ["name", "description", "enabled", "flavor_profile_id"]),
    ("PUT", "/v2/lbaas/flavors/{flavor}", "flavor", ["name", "description", "enabled"]),
    ("POST", "/v2/lbaas/availabilityzoneprofiles", "availability_zone_profile",
     ["name", "provider_name", "availability_zone_data"]),
    ("PUT", "/v2/lbaas/availabilityzoneprofiles/{azprofile}", "availability_zone_profile",
     ["name", "provider_name", "availability_zone_data"]),
    ("POST", "/v2/lbaas/availabilityzones", "availability_zone",
     ["name", "description", "enabled", "availability_zone_profile_id"]),
    ("PUT", "/v2/lbaas/availabilityzones/az", "availability_zone",
     ["name", "description", "enabled"]),
]

# A valid body for each call ("{x}" names an object of the world); mutating one or two
# attributes of it reaches the checks that run after parsing.
BASES: dict[str, dict[str, Any]] = {
    "POST /v2/lbaas/loadbalancers": {"vip_subnet_id": "private-subnet"},
    "PUT /v2/lbaas/loadbalancers/{lb}": {"name": "n"},
    "POST /v2/lbaas/listeners": {"loadbalancer_id": "{lb}", "protocol": "HTTP",
                                 "protocol_port": 8080},
    "PUT /v2/lbaas/listeners/{listener}": {"name": "n"},
    "POST /v2/lbaas/pools": {"loadbalancer_id": "{lb}", "protocol": "HTTP",
                             "lb_algorithm": "ROUND_ROBIN"},
    "PUT /v2/lbaas/pools/{pool}": {"name": "n"},
    "POST /v2/lbaas/pools/{pool}/members": {"address": "192.0.2.30", "protocol_port": 80},
    "PUT /v2/lbaas/pools/{pool}/members/{member}": {"weight": 5},
    "PUT /v2/lbaas/pools/{pool}/members": {},
    "POST /v2/lbaas/healthmonitors": {"pool_id": "{pool}", "type": "HTTP", "delay": 5,
                                      "timeout": 3, "max_retries": 3},
    "PUT /v2/lbaas/healthmonitors/{monitor}": {"delay": 6},
    "POST /v2/lbaas/l7policies": {"listener_id": "{listener}", "action": "REJECT"},
    "PUT /v2/lbaas/l7policies/{policy}": {"name": "n"},
    "POST /v2/lbaas/l7policies/{policy}/rules": {"type": "PATH", "compare_type": "EQUAL_TO",
                                                 "value": "/x"},
    "PUT /v2/lbaas/l7policies/{policy}/rules/{rule}": {"value": "/y"},
    "PUT /v2/lbaas/quotas/{project}": {"pool": 100},
    "POST /v2/lbaas/flavorprofiles": {"name": "n", "provider_name": "noop_driver",
                                      "flavor_data": "{}"},
    "PUT /v2/lbaas/flavorprofiles/{flavorprofile}": {"name": "n"},
    "POST /v2/lbaas/flavors": {"name": "f2", "flavor_profile_id": "{flavorprofile}"},
    "PUT /v2/lbaas/flavors/{flavor}": {"description": "d"},
    "POST /v2/lbaas/availabilityzoneprofiles": {"name": "n", "provider_name": "noop_driver",
                                                "availability_zone_data": "{}"},
    "PUT /v2/lbaas/availabilityzoneprofiles/{azprofile}": {"name": "n"},
    "POST /v2/lbaas/availabilityzones": {"name": "az2",
                                         "availability_zone_profile_id": "{azprofile}"},
    "PUT /v2/lbaas/availabilityzones/az": {"description": "d"},
}


def _base(world: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    def fill(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return re.sub(r"\{(\w+)\}", lambda m: str(world.get(m.group(1), m.group(0))), value)
    return {key: fill(value) for key, value in BASES[f"{method} {path}"].items()}


# What a refused request must not change: every list the API has.
LISTS = [
    "/v2/lbaas/loadbalancers", "/v2/lbaas/listeners", "/v2/lbaas/pools",
    "/v2/lbaas/pools/{pool}/members", "/v2/lbaas/healthmonitors", "/v2/lbaas/l7policies",
    "/v2/lbaas/l7policies/{policy}/rules", "/v2/lbaas/quotas", "/v2/lbaas/flavors",
    "/v2/lbaas/flavorprofiles", "/v2/lbaas/availabilityzones",
    "/v2/lbaas/availabilityzoneprofiles", "/v2/octavia/amphorae",
]

# ---- strategies ------------------------------------------------------------------------

NASTY_TEXT = st.sampled_from([
    "", " ", "a\nb", "a\r\nb", "\x00", "\u2028", '"', "'", "\\", "%s%n", "${x}", "é" * 300,
    "x" * 256, "x" * 5000, "-1", "0", "true", "null", "[]", "{}", "../../etc/passwd",
    "http://example.com", "ftp://x", "http://[::1", "http://a:99999", "127.0.0.1",
    "::1", "10.0.0.0/8", "private-subnet", "00000000-0000-0000-0000-000000000000",
    '"quoted"', "a b", "ROUND_ROBIN", "HTTP", "REJECT", "PATH", "REGEX", "(", "*",
    '{"some_capability": 1}', '{"loadbalancer_topology": "SINGLE"}', "[" * 3000 + "]" * 3000,
])
SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([-1, 0, 1, 80, 65535, 65536, 2147483647, 2147483648, 2000000001]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40), st.text(alphabet=string.printable, max_size=300), NASTY_TEXT,
)
URLS = st.sampled_from(["http://example.com", "https://a.example/p?q=1", "/path", "ftp://x",
                        "http://a b", "http://[::1", "http://x:0", "http://x/\"", ""])
METADATA = st.sampled_from(["{}", '{"some_capability": 1}', '{"some_zone_capability": "z"}',
                            '{"loadbalancer_topology": "ACTIVE_STANDBY"}', '{"compute_zone": 1}',
                            "[]", "{bad", "null", '{"a": ' * 200 + "1" + "}" * 200])
BOOLEAN_KEYS = {"admin_state_up", "enabled", "invert", "backup", "tls_enabled",
                "request_sriov", "hsts_include_subdomains", "hsts_preload"}
NUMBER_KEYS = {"protocol_port", "monitor_port", "position", "weight", "delay", "timeout",
               "max_retries", "max_retries_down", "connection_limit", "timeout_client_data",
               "timeout_member_data", "hsts_max_age", "loadbalancer", "load_balancer",
               "listener", "member", "pool", "healthmonitor", "health_monitor", "l7policy",
               "l7rule", "http_version"}
ANY_JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def plausible(world: dict[str, Any], key: str) -> st.SearchStrategy[Any]:
    """Values that get past type checks for `key`, so deeper validation runs too."""
    ids = st.sampled_from([world[k] for k in ("lb", "listener", "pool", "member",
                                               "monitor", "policy", "rule", "flavor")]
                          + [str(uuid.uuid4())])
    by_key: dict[str, st.SearchStrategy[Any]] = {
        "protocol": st.sampled_from(["HTTP", "HTTPS", "TCP", "UDP", "SCTP", "PROMETHEUS",
                                     "TERMINATED_HTTPS", "PROXY", "PROXYV2", "http"]),
        "action": st.sampled_from(["REJECT", "REDIRECT_TO_URL", "REDIRECT_TO_POOL",
                                   "REDIRECT_PREFIX", "DROP"]),
        "type": st.sampled_from(["HOST_NAME", "PATH", "FILE_TYPE", "HEADER", "COOKIE",
                                 "SSL_CONN_HAS_CERT", "SSL_VERIFY_RESULT", "SSL_DN_FIELD",
                                 "HTTP", "PING", "TCP", "UDP-CONNECT"]),
        "compare_type": st.sampled_from(["REGEX", "STARTS_WITH", "ENDS_WITH", "CONTAINS",
                                         "EQUAL_TO"]),
        "lb_algorithm": st.sampled_from(["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP",
                                         "SOURCE_IP_PORT"]),
        "provider": st.sampled_from(["noop_driver", "amphora", "octavia", "nope"]),
        "provider_name": st.sampled_from(["noop_driver", "amphora", "nope"]),
        "vip_subnet_id": st.sampled_from(["private-subnet", "public-subnet", "nope"]),
        "availability_zone": st.sampled_from(["az", "nope"]),
        "redirect_http_code": st.sampled_from([301, 302, 303, 307, 308, 200]),
        "address": st.sampled_from(["192.0.2.20", "169.254.169.254", "::1", "x"]),
        "value": NASTY_TEXT,
        "key": st.sampled_from(["X-Env", "Cookie", "CN", "bad key", "a\nb", '"']),
        "redirect_url": URLS, "redirect_prefix": URLS, "url_path": URLS,
        "flavor_data": METADATA, "availability_zone_data": METADATA,
        "tags": st.lists(st.one_of(st.text(max_size=8), NASTY_TEXT), max_size=3),
    }
    if key in by_key:
        return by_key[key]
    if key in ("name", "description"):
        return st.one_of(st.text(alphabet=string.printable, max_size=60), NASTY_TEXT)
    if key in BOOLEAN_KEYS:
        return st.one_of(st.booleans(), st.none())
    if key in NUMBER_KEYS:
        return st.one_of(st.integers(min_value=-3, max_value=70000), SCALARS)
    if key.endswith("_id") and key not in ("project_id", "tenant_id"):
        return ids
    if key in ("project_id", "tenant_id"):
        return st.sampled_from([world["project"], "other", "x" * 40])
    return ANY_JSON


def bodies(world: dict[str, Any], root: str, known: list[str],
           base: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Valid bodies with one or two attributes changed, well-wrapped objects of known keys
    with odd values, and sometimes anything at all."""
    if root == "members":
        member = st.fixed_dictionaries({}, optional={
            "address": plausible(world, "address"), "protocol_port": ANY_JSON,
            "weight": ANY_JSON, "name": ANY_JSON})
        return st.one_of(st.builds(lambda m: {"members": m}, st.lists(member, max_size=3)),
                         st.builds(lambda v: {"members": v}, ANY_JSON), ANY_JSON)
    fields = st.fixed_dictionaries({}, optional={
        key: st.one_of(plausible(world, key), ANY_JSON) for key in known})
    extra = st.dictionaries(st.text(max_size=10), ANY_JSON, max_size=2)
    wrapped = st.builds(lambda f, e: {root: {**f, **e}}, fields,
                        st.one_of(st.just({}), extra))
    changes = st.sets(st.sampled_from(known), min_size=1, max_size=2).flatmap(
        lambda keys: st.fixed_dictionaries({
            key: st.one_of(plausible(world, key), plausible(world, key), ANY_JSON)
            for key in keys}))
    mutated = st.builds(lambda change, dropped: {root: {
        **{k: v for k, v in base.items() if k not in dropped}, **change}},
        changes, st.sets(st.sampled_from(sorted(base) or ["-"]), max_size=1))
    return st.one_of(mutated, mutated, mutated, wrapped, wrapped,
                     st.builds(lambda v: {root: v}, ANY_JSON),
                     st.builds(lambda v, e: {root: v, **e}, fields, extra),
                     ANY_JSON)


RAW = st.one_of(st.binary(max_size=64), st.just(b"\xff\xfe{"), st.just(b"{" * 20000),
                st.just(b'{"a": ' * 500 + b"1" + b"}" * 500))

# ---- the property --------------------------------------------------------------------

# Examples per call: 8 keeps the file under a minute on a busy two-core machine; raise
# OSTIA_FUZZ_EXAMPLES for a deeper hunt (150 per call ran clean: ~11 minutes).
EXAMPLES = int(os.environ.get("OSTIA_FUZZ_EXAMPLES", "8"))
SNAPSHOT_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=len(LISTS))


def _snapshot(client: httpx.Client, world: dict[str, Any]) -> list[Any]:
    """Every list, unpaged; fetched side by side to keep the property quick."""
    def fetch(path: str) -> tuple[int, Any]:
        response = client.get(path.format(**world) + "?limit=0")
        return response.status_code, response.json()
    return list(SNAPSHOT_POOL.map(fetch, LISTS))


def _send(client: httpx.Client, method: str, url: str, body: Any) -> httpx.Response:
    if isinstance(body, bytes):
        return client.request(method, url, content=body,
                              headers={"Content-Type": "application/json"})
    return client.request(method, url, content=json.dumps(body).encode(),
                          headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("method, path, root, known", CALLS,
                         ids=[f"{m} {p}" for m, p, _, _ in CALLS])
def test_random_bodies_never_break_the_api(live, world, method, path, root, known):
    url = path.format(**world)
    with live.client() as client:
        state = {"before": _snapshot(client, world)}

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(body=st.one_of(bodies(world, root, known, _base(world, method, path)), RAW))
        def property_holds(body: Any) -> None:
            response = _send(client, method, url, body)
            assert response.status_code != 500, (body, response.text)
            assert response.status_code < 500 or response.status_code == 501, response.text
            after = _snapshot(client, world)
            if 400 <= response.status_code < 500 or response.status_code == 501:
                fault = response.json()
                assert set(fault) == {"faultcode", "faultstring", "debuginfo"}, fault
                assert fault["faultcode"] == ("Client" if response.status_code < 500 else "Server")
                assert after == state["before"], (body, response.text)
            state["before"] = after

        property_holds()
