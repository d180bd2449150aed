"""What the API accepts, the data plane accepts: values haproxy would refuse answer 400.

One class of value per test, each sent the way a careless or hostile tenant would (a
trailing newline, non-ASCII digits, codes outside 100-599, a reversed range, bounds one
past what the renderer takes, cipher names OpenSSL does not know, regexes only Python's
`re` accepts, PEM that does not parse), always answered in Octavia's fault format.
"""

from __future__ import annotations

import datetime
from typing import Any

import httpx
import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization

from ostia.common import limits
from ostia.drivers.certs import x509
from ostia.drivers.certs.local_manager import LocalCertManager
from tests.support.live_api import test_config
from tests.support.objects import check, create_lb, create_listener, create_pool, fault


@pytest.fixture
def lb(client: httpx.Client) -> dict[str, Any]:
    return create_lb(client)


def _monitor(client: httpx.Client, pool_id: str, **fields: Any) -> httpx.Response:
    body = {"pool_id": pool_id, "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3, **fields}
    return client.post("/v2/lbaas/healthmonitors", json={"healthmonitor": body})


def _outcomes(
    client: httpx.Client, lb_id: str, field: str, values: dict[str, bool]
) -> list[tuple[str, int, str]]:
    """(value, status, faultstring) for each value whose answer is not the expected one."""
    wrong = []
    for value, accepted in values.items():
        pool = create_pool(client, loadbalancer_id=lb_id)
        extra = {"http_version": 1.1} if field == "domain_name" else {}
        response = _monitor(client, pool["id"], **{field: value}, **extra)
        if accepted and response.status_code != 201:
            wrong.append((value, response.status_code, response.text))
        elif not accepted:
            if response.status_code != 400:
                wrong.append((value, response.status_code, response.text))
            else:
                assert f"field/attribute {field}" in fault(response, 400)
    return wrong


EXPECTED_CODES = {
    "200": True,
    "200, 202": True,
    "100-599": True,
    "204-204": True,
    "599": True,
    "200\n": False,  # `$` would have let the newline through
    "200,\n202": False,
    "\u0662\u0660\u0660": False,  # Arabic-Indic digits match Python's \d
    "２００": False,  # fullwidth digits
    "099": False,
    "600": False,
    "000": False,
    "100-600": False,
    "099-200": False,
    "500-200": False,  # reversed range: matches nothing
    "200-204\n": False,
}


def test_expected_codes_the_renderer_would_refuse_answer_400(client, lb):
    assert _outcomes(client, lb["id"], "expected_codes", EXPECTED_CODES) == []


DOMAIN_NAMES = {
    "example.com": True,
    "a-b.example.com.": True,
    "_srv.example.com": True,
    "example.com\n": False,
    "exämple.com": False,
    "example.com ": False,
    "-bad.example.com": False,
    "a..b": False,
    "a" * 64 + ".com": False,
}


def test_domain_names_with_a_newline_or_non_ascii_answer_400(client, lb):
    assert _outcomes(client, lb["id"], "domain_name", DOMAIN_NAMES) == []


URL_PATHS = {"/health": True, "/health\n": False, "/h\u2028x": False, "/h\x85x": False}


def test_url_paths_with_line_breaks_answer_400(client, lb):
    assert _outcomes(client, lb["id"], "url_path", URL_PATHS) == []


@pytest.mark.parametrize(
    "field, bounds",
    [
        ("delay", limits.HM_DELAY),
        ("timeout", limits.HM_TIMEOUT),
        ("max_retries", limits.HM_MAX_RETRIES),
        ("max_retries_down", limits.HM_MAX_RETRIES_DOWN),
    ],
)
def test_monitor_bounds_are_the_renderers(client, lb, field, bounds):
    assert (
        _outcomes(
            client,
            lb["id"],
            field,
            {
                bounds.low: True,
                bounds.high: True,
                bounds.low - 1: False,
                bounds.high + 1: False,
            },
        )
        == []
    )


@pytest.mark.parametrize(
    "field, bounds",
    [
        ("connection_limit", limits.CONNECTION_LIMIT),
        ("timeout_client_data", limits.TIMEOUT_MS),
        ("timeout_member_connect", limits.TIMEOUT_MS),
        ("timeout_member_data", limits.TIMEOUT_MS),
        ("timeout_tcp_inspect", limits.TIMEOUT_MS),
    ],
)
def test_listener_bounds_are_the_renderers(client, lb, field, bounds):
    port = iter(range(1000, 2000))
    for value in (bounds.low, bounds.high):
        create_listener(client, lb["id"], port=next(port), **{field: value})
    for value in (bounds.low - 1, bounds.high + 1):
        response = client.post(
            "/v2/lbaas/listeners",
            json={
                "listener": {
                    "loadbalancer_id": lb["id"],
                    "protocol": "HTTP",
                    "protocol_port": next(port),
                    field: value,
                }
            },
        )
        assert f"field/attribute {field}" in fault(response, 400)


def test_member_weight_and_port_bounds_are_the_renderers(client, lb):
    pool = create_pool(client, loadbalancer_id=lb["id"])
    path = f"/v2/lbaas/pools/{pool['id']}/members"
    for n, (field, value, code) in enumerate(
        [
            ("weight", limits.WEIGHT.high, 201),
            ("weight", limits.WEIGHT.high + 1, 400),
            ("monitor_port", limits.PORT.high, 201),
            ("monitor_port", limits.PORT.high + 1, 400),
        ]
    ):
        response = client.post(
            path, json={"member": {"address": f"10.0.0.{n + 1}", "protocol_port": 80, field: value}}
        )
        if code == 400:
            assert f"field/attribute {field}" in fault(response, 400)
        else:
            check(response, 201)


CIPHERS = {
    "ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256": True,
    "HIGH:!aNULL:!MD5": True,
    "TLS_AES_128_CCM_SHA256": True,
    "NOT-A-CIPHER": False,
    "ECDHE-RSA-AES128-GCM-SHA256:TYPO-CIPHER": False,  # OpenSSL alone would drop the typo
    "TLS_NOT_A_SUITE": False,
    "HIGH:!HIGH": False,  # selects nothing
    "RC4-MD5": False,  # this OpenSSL will not use it
    "HIGH\n": False,
}


def test_cipher_strings_are_judged_by_openssl(client, lb):
    wrong = []
    for ciphers, accepted in CIPHERS.items():
        response = client.post(
            "/v2/lbaas/pools",
            json={
                "pool": {
                    "loadbalancer_id": lb["id"],
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "tls_enabled": True,
                    "tls_ciphers": ciphers,
                }
            },
        )
        if response.status_code != (201 if accepted else 400):
            wrong.append((ciphers, response.status_code, response.text))
        elif not accepted:
            fault(response, 400)
    assert wrong == []


REGEXES = {
    r"^/api/v[0-9]+/": True,
    r"a\Kb": True,  # PCRE2 only: Python's re refuses it, haproxy not
    r"(a)\1": False,  # haproxy compiles without capture groups
    r"\N{LATIN SMALL LETTER A}": False,  # Python-only escapes
    r"\u0041": False,
    r"[": False,
    r"(?<=a+)b": False,
}


@pytest.mark.parametrize("rule_type, key", [("PATH", None), ("HEADER", "X-Test"), ("SSL_DN_FIELD", "CN")])
def test_l7_regexes_are_compiled_with_haproxys_pcre2(client, lb, rule_type, key):
    listener = create_listener(client, lb["id"])
    policy = check(
        client.post(
            "/v2/lbaas/l7policies", json={"l7policy": {"listener_id": listener["id"], "action": "REJECT"}}
        ),
        201,
    )["l7policy"]
    wrong = []
    for regex, accepted in REGEXES.items():
        body = {"type": rule_type, "compare_type": "REGEX", "value": regex}
        if key:
            body["key"] = key
        response = client.post(f"/v2/lbaas/l7policies/{policy['id']}/rules", json={"rule": body})
        if response.status_code != (201 if accepted else 400):
            wrong.append((regex, response.status_code, response.text))
        elif not accepted:
            assert "Unable to parse regular expression" in fault(response, 400)
        else:
            rule = response.json()["rule"]
            check(client.delete(f"/v2/lbaas/l7policies/{policy['id']}/rules/{rule['id']}"), 204)
    assert wrong == []


# --- certificates: PEM that haproxy could not load ---------------------------------------


@pytest.fixture
def local_certs(api, tmp_path) -> LocalCertManager:
    conf = test_config(
        str(api.db.engine.url),
        {"certificates": {"cert_manager": "local_cert_manager", "storage_path": str(tmp_path / "tls")}},
    )
    api.reset(conf, api.db)
    return LocalCertManager(conf)


def _ca(name: str, is_ca: bool = True) -> tuple[cx509.Certificate, Any]:
    key = x509.new_private_key()
    subject = x509.name(name)
    cert = x509.build_certificate(
        subject=subject,
        public_key=key.public_key(),
        issuer=subject,
        issuer_key=key,
        validity=datetime.timedelta(days=30),
        is_ca=is_ca,
        server=not is_ca,
        alt_names=[] if is_ca else [name],
    )
    return cert, key


def _crl(issuer: cx509.Certificate, key: Any) -> bytes:
    now = datetime.datetime.now(datetime.UTC)
    crl = (
        cx509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now)
        .next_update(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return crl.public_bytes(serialization.Encoding.PEM)


def _server_ref(certs: LocalCertManager) -> str:
    cert, key = _ca("www.example.com", is_ca=False)
    return certs.store_cert("p", x509.cert_to_pem(cert), x509.key_to_pem(key))


def _tls_listener(client, lb_id, port, **refs) -> httpx.Response:
    return client.post(
        "/v2/lbaas/listeners",
        json={
            "listener": {
                "loadbalancer_id": lb_id,
                "protocol": "TERMINATED_HTTPS",
                "protocol_port": port,
                "client_authentication": "MANDATORY",
                **refs,
            }
        },
    )


GARBAGE_CERT = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"


def test_a_ca_or_crl_that_does_not_parse_answers_400(client, lb, local_certs):
    server = _server_ref(local_certs)
    ca_cert, ca_key = _ca("Client CA")
    ca = local_certs.store_secret("p", x509.cert_to_pem(ca_cert))
    other_cert, other_key = _ca("Other CA")
    cases = [
        (
            {"client_ca_tls_container_ref": local_certs.store_secret("p", GARBAGE_CERT)},
            "the CA certificate: a certificate does not parse",
        ),
        (
            {
                "client_ca_tls_container_ref": local_certs.store_secret(
                    "p", b"-----BEGIN FOO-----\nYWJj\n-----END FOO-----\n"
                )
            },
            "the CA certificate: holds no PEM certificate",
        ),
        (
            {
                "client_ca_tls_container_ref": ca,
                "client_crl_container_ref": local_certs.store_secret("p", GARBAGE_CERT),
            },
            "the revocation list: holds no PEM CRL",
        ),
        (
            {
                "client_ca_tls_container_ref": ca,
                "client_crl_container_ref": local_certs.store_secret(
                    "p", b"-----BEGIN X509 CRL-----\nYWJj\n-----END X509 CRL-----\n"
                ),
            },
            "the revocation list: the CRL does not parse",
        ),
        (
            {
                "client_ca_tls_container_ref": ca,
                "client_crl_container_ref": local_certs.store_secret("p", _crl(other_cert, other_key)),
            },
            "the CRL is not signed by the CA",
        ),
    ]
    for port, (refs, message) in enumerate(cases, start=8000):
        response = _tls_listener(client, lb["id"], port, default_tls_container_ref=server, **refs)
        assert message in fault(response, 400), refs
    good = _tls_listener(
        client,
        lb["id"],
        443,
        default_tls_container_ref=server,
        client_ca_tls_container_ref=ca,
        client_crl_container_ref=local_certs.store_secret("p", _crl(ca_cert, ca_key)),
    )
    check(good, 201)


def test_a_pool_ca_that_does_not_parse_answers_400(client, lb, local_certs):
    bad = local_certs.store_secret("p", GARBAGE_CERT)
    response = client.post(
        "/v2/lbaas/pools",
        json={
            "pool": {
                "loadbalancer_id": lb["id"],
                "protocol": "HTTP",
                "lb_algorithm": "ROUND_ROBIN",
                "tls_enabled": True,
                "ca_tls_container_ref": bad,
            }
        },
    )
    assert "the CA certificate" in fault(response, 400)


def test_single_call_create_applies_the_same_checks(client):
    def create(listener: dict[str, Any]) -> httpx.Response:
        return client.post(
            "/v2/lbaas/loadbalancers",
            json={"loadbalancer": {"vip_subnet_id": "private-subnet", "listeners": [listener]}},
        )

    http = {"protocol": "HTTP", "protocol_port": 80}
    bad_regex = create(
        {
            **http,
            "l7policies": [
                {"action": "REJECT", "rules": [{"type": "PATH", "compare_type": "REGEX", "value": r"(a)\1"}]}
            ],
        }
    )
    assert "Unable to parse regular expression" in fault(bad_regex, 400)
    bad_codes = create(
        {
            **http,
            "default_pool": {
                "name": "p",
                "protocol": "HTTP",
                "lb_algorithm": "ROUND_ROBIN",
                "healthmonitor": {
                    "type": "HTTP",
                    "delay": 5,
                    "timeout": 3,
                    "max_retries": 3,
                    "expected_codes": "500-200",
                },
            },
        }
    )
    assert "expected_codes" in fault(bad_codes, 400)
    bad_limit = create({**http, "connection_limit": limits.CONNECTION_LIMIT.high + 1})
    assert "connection_limit" in fault(bad_limit, 400)
