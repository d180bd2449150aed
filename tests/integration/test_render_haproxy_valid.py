"""Rendered configurations against the real haproxy: `haproxy -c` on every feature, tenant
strings that try to break out of their word, and a running haproxy that serves traffic."""

from __future__ import annotations

import datetime
import http.client
import http.server
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ostia.common import constants
from ostia.common.haproxy_peers import peer_name
from ostia.controller.worker.haproxy.render import UnsafeValue, tls_files
from tests.unit.test_render_haproxy_escape import haproxy_words
from tests.unit.test_render_haproxy_fixtures import (
    conf,
    directives,
    make_hm,
    make_lb,
    make_listener,
    make_member,
    make_policy,
    make_pool,
    make_rule,
    render,
)

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
pytestmark = pytest.mark.skipif(not os.access(HAPROXY, os.X_OK), reason="haproxy not installed")
AMP = "a0000000-0000-0000-0000-000000000001"
PEER = "a0000000-0000-0000-0000-000000000002"


# --- throwaway PKI -------------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _issue(
    cn: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None, ca: bool = False
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer[0].subject if issuer else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256()), key


class Pki:
    """A CA, server certificates by name, a CRL, and a cert manager over them."""

    def __init__(self) -> None:
        self.ca = _issue("Test CA", None, ca=True)
        now = datetime.datetime.now(datetime.UTC)
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ca[0].subject)
            .last_update(now)
            .next_update(now + datetime.timedelta(days=1))
            .sign(self.ca[1], hashes.SHA256())
        )
        self.crl_pem = crl.public_bytes(serialization.Encoding.PEM)
        self.ca_pem = _pem(self.ca[0])
        self._certs: dict[str, SimpleNamespace] = {}

    def get_cert(self, project_id: str, ref: str) -> SimpleNamespace:
        if ref not in self._certs:
            cert, key = _issue(f"{len(self._certs)}.example.com", self.ca)
            self._certs[ref] = SimpleNamespace(
                certificate=_pem(cert),
                private_key=_key_pem(key),
                intermediates=[self.ca_pem],
                passphrase=None,
            )
        return self._certs[ref]

    def get_secret(self, project_id: str, ref: str) -> bytes:
        # haproxy reads certificates and CRLs from either file, so one blob serves both.
        return self.ca_pem + self.crl_pem


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A short temporary directory: haproxy's UNIX socket paths may not exceed 97 bytes."""
    path = Path(tempfile.mkdtemp(prefix="ostia-hx-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --- haproxy -c ----------------------------------------------------------------------------


def write_config(lb: Any, text: str, tmp: Path, pki: Pki) -> Path:
    """Write the configuration, its TLS files and an empty server-state file under `tmp`."""
    certs = tmp / "certs" / lb.id
    certs.mkdir(parents=True, exist_ok=True)
    for name, content in tls_files(lb, pki, cert_dir=str(tmp / "certs")).items():
        (certs / name).write_bytes(content)
    (tmp / "base" / lb.id).mkdir(parents=True, exist_ok=True)
    # What `show servers state` writes when there is no server yet: the version line.
    (tmp / "base" / lb.id / "servers-state").write_text("1\n")
    cfg = tmp / "base" / lb.id / "haproxy.cfg"
    cfg.write_text(text)
    return cfg


def haproxy_check(cfg: Path, local_peer: str | None = None) -> str:
    """Run `haproxy -c` (as the agent does: `-L <local_peer>` when given); fail on an error
    or on any warning. Returns haproxy's output."""
    peer = ["-L", local_peer] if local_peer else []
    proc = subprocess.run([HAPROXY, "-c", *peer, "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "WARNING" not in output and "ALERT" not in output, output
    return output


def render_in(lb: Any, tmp: Path, c: Any = None, **kw: Any) -> str:
    kw.setdefault("base_path", str(tmp / "base"))
    kw.setdefault("cert_dir", str(tmp / "certs"))
    return render(lb, c, **kw)


def every_feature_lb() -> Any:
    """One load balancer using every listener protocol, L7 rule and action, monitor,
    persistence type, PROXY protocol version and TLS option."""
    lb = make_lb("127.0.100.10", additional=("fd00::10",))
    all_headers = {h: "true" for h in constants.INSERT_HEADERS_HTTP}

    http = make_listener(
        lb,
        constants.HTTP,
        80,
        insert_headers=all_headers,
        allowed_cidrs=["10.0.0.0/8", "fd00::/8"],
        timeout_tcp_inspect=500,
        connection_limit=1000,
    )
    web = make_pool(
        lb, constants.HTTP, constants.ROUND_ROBIN, listener=http, persistence=constants.HTTP_COOKIE
    )
    make_hm(
        web,
        constants.HTTP,
        http_version=1.1,
        domain_name="app.example.com",
        expected_codes="200-204",
        url_path="/health check?x=1",
    )
    make_member(web, "10.0.0.1", 8080, weight=5)
    make_member(web, "10.0.0.2", 8080, backup=True, monitor_address="10.0.1.2", monitor_port=9000)
    make_member(web, "fd00::3", 8080, enabled=False)
    api = make_pool(
        lb,
        constants.PROXY,
        constants.LEAST_CONNECTIONS,
        persistence=constants.APP_COOKIE,
        cookie_name="JSESSIONID",
    )
    make_hm(api, constants.HTTPS)
    make_member(api, "10.0.0.4", 8443)
    reject = make_policy(http, "REJECT", 1)
    make_rule(reject, "PATH", "REGEX", r"^/admin(/.*)?$")
    make_rule(reject, "HEADER", "CONTAINS", "bot", key="User-Agent", invert=True)
    to_url = make_policy(
        http, "REDIRECT_TO_URL", 2, redirect_url="https://new.example.com/", redirect_http_code=301
    )
    make_rule(to_url, "HOST_NAME", "EQUAL_TO", "old.example.com")
    prefix = make_policy(
        http, "REDIRECT_PREFIX", 3, redirect_prefix="https://cdn.example.com", redirect_http_code=308
    )
    make_rule(prefix, "FILE_TYPE", "EQUAL_TO", "png")
    make_rule(prefix, "FILE_TYPE", "REGEX", "^(jpe?g|gif)$", invert=True)
    to_pool = make_policy(http, "REDIRECT_TO_POOL", 4, redirect_pool=api)
    make_rule(to_pool, "COOKIE", "STARTS_WITH", "v2", key="api-version")
    make_rule(to_pool, "PATH", "ENDS_WITH", ".json")

    tls = make_listener(
        lb,
        constants.TERMINATED_HTTPS,
        443,
        tls_certificate_id="default-cert",
        sni_container_refs=["sni-a", "sni-b"],
        client_ca_tls_certificate_id="client-ca",
        client_authentication="OPTIONAL",
        client_crl_container_id="client-crl",
        hsts_max_age=3600,
        hsts_include_subdomains=True,
        hsts_preload=True,
        insert_headers={h: "true" for h in constants.INSERT_HEADERS_HTTP + constants.INSERT_HEADERS_TLS},
    )
    secure = make_pool(
        lb,
        constants.HTTP,
        constants.SOURCE_IP,
        listener=tls,
        tls_enabled=True,
        tls_certificate_id="pool-client",
        ca_tls_certificate_id="pool-ca",
        crl_container_id="pool-crl",
        persistence=constants.SOURCE_IP,
    )
    make_hm(secure, constants.HTTPS)
    make_member(secure, "10.0.0.5", 8443)
    mtls = make_pool(lb, constants.PROXYV2, constants.ROUND_ROBIN)
    make_member(mtls, "10.0.0.6", 8080)
    certs = make_policy(tls, "REDIRECT_TO_POOL", 1, redirect_pool=mtls)
    make_rule(certs, "SSL_CONN_HAS_CERT", "EQUAL_TO", "true")
    make_rule(certs, "SSL_VERIFY_RESULT", "EQUAL_TO", "0")
    make_rule(certs, "SSL_DN_FIELD", "REGEX", "^client[0-9]+$", key="CN")

    tcp = make_listener(lb, constants.TCP, 8000)
    proxied = make_pool(
        lb, constants.PROXYV2, constants.SOURCE_IP_PORT, listener=tcp, persistence=constants.SOURCE_IP
    )
    make_hm(proxied, constants.HM_PING, delay=2, timeout=1)
    make_member(proxied, "10.0.0.7", 9000)

    passthrough = make_listener(lb, constants.HTTPS, 8443)
    tls_pool = make_pool(lb, constants.HTTPS, constants.SOURCE_IP, listener=passthrough)
    make_hm(tls_pool, constants.HM_TLS_HELLO)
    make_member(tls_pool, "10.0.0.8", 443)

    raw = make_listener(lb, constants.TCP, 8001)
    plain = make_pool(lb, constants.TCP, constants.ROUND_ROBIN, listener=raw)
    make_hm(plain, constants.TCP)
    make_member(plain, "10.0.0.9", 5432)
    make_member(plain, "10.0.0.10", 5432, backup=True)

    upgrade = make_listener(lb, constants.TCP, 8002)
    make_member(make_pool(lb, constants.HTTP, constants.ROUND_ROBIN, listener=upgrade), "10.0.0.11", 80)

    make_listener(lb, constants.HTTP, 8080)  # no pool
    make_listener(lb, constants.PROMETHEUS, 9100)
    make_listener(lb, constants.UDP, 53)
    return lb


def test_every_feature_renders_a_valid_configuration(tmp_path, pki):
    lb = every_feature_lb()
    text = render_in(
        lb, tmp_path, log_targets=["127.0.0.1:514"], peers=[(AMP, "127.0.0.1"), (PEER, "127.0.0.2")]
    )
    cfg = write_config(lb, text, tmp_path, pki)
    assert "Configuration file is valid" in haproxy_check(cfg, peer_name(AMP))
    for word in (
        "ssl crt-list",
        "send-proxy-v2",
        "send-proxy\n",
        "prometheus-exporter",
        "ssl-hello-chk",
        "external-check command",
        "cookie SRV",
        "stick match",
        "stick on src",
        "balance hash",
        "crl-file",
        "Strict-Transport-Security",
        "X-SSL-Client-SHA1",
        "peers ",
    ):
        assert word in text


def test_active_standby_pair_passes_the_check_as_either_amphora(tmp_path, pki):
    """Both amphorae of a pair run the same peers section; each names itself with -L (as
    the agent does) and haproxy accepts it without a warning. A name that is not in the
    section makes haproxy drop the section: the tables would not be shared."""
    lb = every_feature_lb()
    peers = [(AMP, "198.18.64.11"), (PEER, "198.18.64.12")]
    section = f"peers {lb.id.replace('-', '')}_peers"
    for amphora_id in (AMP, PEER):
        text = render_in(lb, tmp_path, amphora_id=amphora_id, peers=peers)
        tables = [line for line in directives(text) if line.startswith("stick-table")]
        assert section in directives(text)
        assert len(tables) == 3 and all(line.endswith(section) for line in tables), tables
        haproxy_check(write_config(lb, text, tmp_path, pki), peer_name(amphora_id))
    cfg = write_config(lb, render_in(lb, tmp_path, peers=peers), tmp_path, pki)
    with pytest.raises(AssertionError, match="Removing incomplete section"):
        haproxy_check(cfg, "someoneelse")


def test_single_topology_has_no_peers_and_passes_with_the_agents_local_peer(tmp_path, pki):
    """The agent always passes -L; without a peers section it changes nothing."""
    lb = every_feature_lb()
    text = render_in(lb, tmp_path)
    assert "peers" not in text and "peer " not in text
    haproxy_check(write_config(lb, text, tmp_path, pki), peer_name(AMP))


def test_every_feature_with_http_reuse_always_is_valid(tmp_path, pki):
    lb = every_feature_lb()
    text = render_in(lb, tmp_path, conf(http_reuse="always"))
    assert "http-reuse always" in text
    haproxy_check(write_config(lb, text, tmp_path, pki))


def test_every_feature_without_logging_or_peers_is_valid(tmp_path, pki):
    lb = every_feature_lb()
    text = render_in(lb, tmp_path, server_state=False)
    haproxy_check(write_config(lb, text, tmp_path, pki))


# --- injection -----------------------------------------------------------------------------

CONTROL_PAYLOADS = [
    "a\nb",
    "x\r\n    option httpchk",
    "\x00",
    "a\rb",
    "a\u2028b",
    "a\u2029b",
    "a\x85b",
    "fe80::1%x\nbackup",
]
PAYLOADS = [
    "a#b",
    '"',
    "'",
    "\\",
    "a b",
    "}{",
    "x' if TRUE '",
    '" # ',
    "${HOME}",
    "%[src]",
    "-f /etc/passwd",
    "--",
    "%[env(HOME)]",
    "%{+Q}[req.hdr(host)]",
    "\\'",
    # IPv6 zone ids: what ipaddress accepts after `%`, whole directives included.
    "fe80::1%x",
    "fe80::1%x#y",
    "fe80::1%x ssl verify none sni env(HOME)",
    "10.0.0.0%x/8",
    "fe80::%x backup/64",
    "v" * 4000,
]


def injection_lb() -> SimpleNamespace:
    """A graph holding every tenant string the renderer reads, each with a benign value."""
    lb = make_lb("127.0.100.20", additional=("127.0.100.21",), project_id="project")
    g = SimpleNamespace(lb=lb)
    g.http = make_listener(
        lb,
        constants.HTTP,
        80,
        allowed_cidrs=["10.0.0.0/8"],
        insert_headers={"X-Forwarded-For": "true", "X-Real-IP": "false"},
    )
    g.pool = make_pool(
        lb, constants.HTTP, listener=g.http, persistence=constants.APP_COOKIE, cookie_name="SESSION"
    )
    g.hm = make_hm(
        g.pool,
        constants.HTTP,
        url_path="/health",
        http_version=1.1,
        domain_name="app.example.com",
        expected_codes="200",
    )
    g.member = make_member(g.pool, "10.0.0.1", 80, monitor_address="10.0.0.2")
    g.policies = {}
    for action, extra in (
        ("REJECT", {}),
        ("REDIRECT_TO_URL", {"redirect_url": "http://a/"}),
        ("REDIRECT_PREFIX", {"redirect_prefix": "http://b"}),
    ):
        g.policies[action] = make_policy(g.http, action, len(g.policies) + 1, **extra)
    rules = g.policies["REJECT"]
    g.rules = {
        "path": make_rule(rules, "PATH", "EQUAL_TO", "/x"),
        "host": make_rule(rules, "HOST_NAME", "STARTS_WITH", "www"),
        "file": make_rule(rules, "FILE_TYPE", "EQUAL_TO", "jpg"),
        "header": make_rule(rules, "HEADER", "CONTAINS", "v", key="X-H"),
        "cookie": make_rule(g.policies["REDIRECT_TO_URL"], "COOKIE", "ENDS_WITH", "v", key="c"),
        "prefix": make_rule(g.policies["REDIRECT_PREFIX"], "PATH", "STARTS_WITH", "/p"),
    }
    g.tls = make_listener(
        lb,
        constants.TERMINATED_HTTPS,
        443,
        tls_certificate_id="cert",
        sni_container_refs=["sni"],
        client_ca_tls_certificate_id="ca",
        client_authentication="OPTIONAL",
        client_crl_container_id="crl",
        tls_ciphers="ECDHE-RSA-AES128-GCM-SHA256",
        tls_versions=["TLSv1.2"],
        alpn_protocols=["http/1.1"],
    )
    g.tls_pool = make_pool(
        lb,
        constants.HTTP,
        listener=g.tls,
        tls_enabled=True,
        tls_certificate_id="pcert",
        ca_tls_certificate_id="pca",
        crl_container_id="pcrl",
        tls_ciphers="ECDHE-RSA-AES128-GCM-SHA256",
        tls_versions=["TLSv1.2"],
        alpn_protocols=["http/1.1"],
    )
    make_member(g.tls_pool, "10.0.0.3", 443)
    ssl_rules = make_policy(g.tls, "REJECT", 1)
    g.rules["dn"] = make_rule(ssl_rules, "SSL_DN_FIELD", "EQUAL_TO", "v", key="CN")
    g.rules["has_cert"] = make_rule(ssl_rules, "SSL_CONN_HAS_CERT", "EQUAL_TO", "true")
    g.rules["verify"] = make_rule(ssl_rules, "SSL_VERIFY_RESULT", "EQUAL_TO", "0")
    return g


# A setter puts a value into one field of the graph and returns how to put the old one back.
Setter = Callable[[SimpleNamespace, str], Callable[[], None]]


def _set(path: str) -> Setter:
    def setter(g: SimpleNamespace, value: str) -> Callable[[], None]:
        *parents, attr = path.split(".")
        obj: Any = g
        for part in parents:
            if isinstance(obj, dict):
                obj = obj[part]
            elif isinstance(obj, list):
                obj = obj[int(part)]
            else:
                obj = getattr(obj, part)
        old = getattr(obj, attr)
        setattr(obj, attr, value)
        return lambda: setattr(obj, attr, old)

    return setter


def _set_list(path: str) -> Setter:
    """A list-valued field holding just `value`."""
    plain = _set(path)
    return lambda g, value: plain(g, [value])  # type: ignore[arg-type]


def _set_header(key: str | None) -> Setter:
    """An insert_headers value (of `key`), or with key None a new header named `value`."""

    def setter(g: SimpleNamespace, value: str) -> Callable[[], None]:
        old = dict(g.http.insert_headers)
        g.http.insert_headers = {**old, **({key: value} if key else {value: "true"})}
        return lambda: setattr(g.http, "insert_headers", old)

    return setter


# Every tenant string the renderer consumes. Free text must render whatever it holds.
FREE_TEXT: dict[str, Setter] = {
    "rule.value PATH": _set("rules.path.value"),
    "rule.value HOST_NAME": _set("rules.host.value"),
    "rule.value FILE_TYPE": _set("rules.file.value"),
    "rule.value HEADER": _set("rules.header.value"),
    "rule.key HEADER": _set("rules.header.key"),
    "rule.value COOKIE": _set("rules.cookie.value"),
    "rule.key COOKIE": _set("rules.cookie.key"),
    "rule.value SSL_DN_FIELD": _set("rules.dn.value"),
    "rule.value SSL_CONN_HAS_CERT": _set("rules.has_cert.value"),
    "policy.redirect_url": _set("policies.REDIRECT_TO_URL.redirect_url"),
    "policy.redirect_prefix": _set("policies.REDIRECT_PREFIX.redirect_prefix"),
    "session_persistence.cookie_name": _set("pool.session_persistence.cookie_name"),
    "healthmonitor.url_path": _set("hm.url_path"),
    "insert_headers value": _set_header("X-Real-IP"),
    "insert_headers key": _set_header(None),
    "listener.tls_certificate_id": _set("tls.tls_certificate_id"),
    "listener.sni_container_refs": _set_list("tls.sni_container_refs"),
    "listener.client_ca_tls_certificate_id": _set("tls.client_ca_tls_certificate_id"),
    "listener.client_crl_container_id": _set("tls.client_crl_container_id"),
    "pool.tls_certificate_id": _set("tls_pool.tls_certificate_id"),
    "pool.ca_tls_certificate_id": _set("tls_pool.ca_tls_certificate_id"),
    "pool.crl_container_id": _set("tls_pool.crl_container_id"),
    "load_balancer.project_id": _set("lb.project_id"),
}
# Values with a grammar (enums, numbers, addresses, host names, cipher strings): anything
# outside it is refused with UnsafeValue rather than quoted.
CONSTRAINED: dict[str, Setter] = {
    "rule.value SSL_VERIFY_RESULT": _set("rules.verify.value"),
    "rule.key SSL_DN_FIELD": _set("rules.dn.key"),
    "healthmonitor.domain_name": _set("hm.domain_name"),
    "healthmonitor.expected_codes": _set("hm.expected_codes"),
    "healthmonitor.http_method": _set("hm.http_method"),
    "listener.tls_ciphers": _set("tls.tls_ciphers"),
    "listener.tls_versions": _set_list("tls.tls_versions"),
    "listener.alpn_protocols": _set_list("tls.alpn_protocols"),
    "pool.tls_ciphers": _set("tls_pool.tls_ciphers"),
    "pool.tls_versions": _set_list("tls_pool.tls_versions"),
    "pool.alpn_protocols": _set_list("tls_pool.alpn_protocols"),
    "vip.ip_address": _set("lb.vip.ip_address"),
    "additional_vip.ip_address": _set("lb.additional_vips.0.ip_address"),
    "member.address": _set("member.ip_address"),
    "member.monitor_address": _set("member.monitor_address"),
    "listener.allowed_cidrs": _set_list("http.allowed_cidrs"),
}
# Cipher names are checked by OpenSSL, not by the renderer: a well-formed but unknown name
# renders safely and then fails `haproxy -c` ("unable to set SSL cipher list"), so those
# fields stay out of the combined run below.
NOT_CHECKED_BY_RENDERER = {"listener.tls_ciphers", "pool.tls_ciphers"}


def _render_injection(g: SimpleNamespace, tmp: Path, c: Any) -> str:
    return render_in(g.lb, tmp, c, log_targets=["127.0.0.1:514"])


def _shape(text: str) -> list[int]:
    """How many words haproxy reads on each directive line."""
    return [len(haproxy_words(line)) for line in directives(text)]


def test_tenant_strings_cannot_change_the_configuration_structure(tmp_path, pki):
    c = conf()
    g = injection_lb()
    baseline_shape = _shape(_render_injection(g, tmp_path, c))
    setters = {**FREE_TEXT, **CONSTRAINED}
    accepted: dict[str, list[str]] = {payload: [] for payload in PAYLOADS}
    for field_name, setter in setters.items():
        for payload in CONTROL_PAYLOADS:
            undo = setter(g, payload)
            try:
                _render_injection(g, tmp_path, c)
            except UnsafeValue:
                continue
            finally:
                undo()
            pytest.fail(f"{field_name} = {payload!r} was rendered")
        for payload in PAYLOADS:
            undo = setter(g, payload)
            try:
                text = _render_injection(g, tmp_path, c)
            except UnsafeValue:
                assert field_name in CONSTRAINED, f"{field_name} refused {payload!r}"
                continue
            finally:
                undo()
            assert _shape(text) == baseline_shape, (field_name, payload)
            if field_name not in NOT_CHECKED_BY_RENDERER:
                accepted[payload].append(field_name)

    # Every payload in every field that took it, all at once, through the real haproxy.
    for index, (payload, fields) in enumerate(accepted.items()):
        g = injection_lb()
        for field_name in fields:
            setters[field_name](g, payload)
        text = _render_injection(g, tmp_path / str(index), c)
        assert _shape(text) == baseline_shape, payload
        haproxy_check(write_config(g.lb, text, tmp_path / str(index), pki))


# --- a running haproxy ---------------------------------------------------------------------


class NamedBackend(http.server.ThreadingHTTPServer):
    """An HTTP server that answers every GET with its own name."""

    daemon_threads = True

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(("127.0.0.1", 0), _NamedHandler)
        self.thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server_address[1]


class _NamedHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = self.server.name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def backends() -> Iterator[list[NamedBackend]]:
    servers = [NamedBackend(name) for name in ("backend1", "backend2", "special")]
    try:
        yield servers
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _processes_running(cfg: Path) -> list[int]:
    """Processes whose command line names `cfg` (a path unique to one test)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if str(cfg).encode() in cmdline and _alive(int(entry)):
                found.append(int(entry))
    return found


@pytest.fixture
def running_haproxy() -> Iterator[Callable[[Path], None]]:
    """Start haproxy in master-worker daemon mode; stop its master and workers afterwards."""
    configs: list[Path] = []

    def start(cfg: Path) -> None:
        configs.append(cfg)
        proc = subprocess.run(
            [HAPROXY, "-W", "-D", "-f", str(cfg), "-S", str(cfg.parent / "master.sock")],
            timeout=30,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr

    yield start
    for cfg in configs:
        pidfiles = list(cfg.parent.glob("*.pid"))
        masters = [int(pidfiles[0].read_text().split()[0])] if pidfiles else []
        processes = set(masters + _processes_running(cfg))
        for master in masters:
            processes.update(_children(master))
        for pid in processes:
            with _ignore_missing():
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in processes) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in processes:
            if _alive(pid):
                with _ignore_missing():
                    os.kill(pid, signal.SIGKILL)
        assert not _processes_running(cfg)


class _ignore_missing:  # noqa: N801 - used as a context manager
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, *_: Any) -> bool:
        return kind is ProcessLookupError


def _get(
    address: str, port: int, path: str = "/", headers: dict[str, str] | None = None
) -> tuple[int, str, dict[str, str]]:
    conn = http.client.HTTPConnection(address, port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode(), dict(response.getheaders())
    finally:
        conn.close()


def _wait_for(address: str, port: int) -> None:
    deadline = time.monotonic() + 5
    while True:
        try:
            with socket.create_connection((address, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def test_running_haproxy_serves_503_round_robin_and_tenant_strings_verbatim(
    tmp_path, pki, backends, running_haproxy
):
    vip = f"127.0.100.{random.randint(100, 250)}"
    lb = make_lb(vip)
    no_pool = make_listener(lb, constants.HTTP, free_port(vip))
    web = make_listener(lb, constants.HTTP, free_port(vip))
    metrics = make_listener(lb, constants.PROMETHEUS, free_port(vip))
    pool = make_pool(lb, constants.HTTP, constants.ROUND_ROBIN, listener=web)
    for server in backends[:2]:
        make_member(pool, "127.0.0.1", server.port)
    special = make_pool(lb, constants.HTTP)
    make_member(special, "127.0.0.1", backends[2].port)
    # Tenant strings full of haproxy syntax must arrive exactly as written.
    location = "http://example.com/a b?q='1'&r=\"2\"#frag\\ {x} $HOME %[src]"
    redirect = make_policy(web, "REDIRECT_TO_URL", 1, redirect_url=location, redirect_http_code=307)
    odd_path = "/go'$HOME'%23x"  # `path` is the raw request path; haproxy refuses a raw #
    make_rule(redirect, "PATH", "EQUAL_TO", odd_path)
    to_special = make_policy(web, "REDIRECT_TO_POOL", 2, redirect_pool=special)
    header_value = "a 'b' \"c\" #d \\e {f} -f"
    make_rule(to_special, "HEADER", "EQUAL_TO", header_value, key="X-Odd#'Name")

    base = tmp_path / "base"
    text = render(
        lb,
        conf(timeout_member_connect=1000),
        base_path=str(base),
        cert_dir=str(tmp_path / "certs"),
        server_state=False,
    )
    (base / lb.id).mkdir(parents=True)
    cfg = base / lb.id / "haproxy.cfg"
    cfg.write_text(text)
    haproxy_check(cfg)
    running_haproxy(cfg)
    for listener in (no_pool, web, metrics):
        _wait_for(vip, listener.protocol_port)
    assert (base / f"{lb.id}.sock").exists()

    status, _, _ = _get(vip, no_pool.protocol_port)
    assert status == 503

    answers = [_get(vip, web.protocol_port)[1] for _ in range(6)]
    assert answers == ["backend1", "backend2"] * 3 or answers == ["backend2", "backend1"] * 3

    status, _, headers = _get(vip, web.protocol_port, odd_path)
    assert status == 307 and headers["location"] == location

    status, body, _ = _get(vip, web.protocol_port, headers={"X-Odd#'Name": header_value})
    assert (status, body) == (200, "special")
    status, body, _ = _get(vip, web.protocol_port, headers={"X-Odd#'Name": header_value + "x"})
    assert body != "special"

    status, body, _ = _get(vip, metrics.protocol_port, "/metrics")
    assert status == 200 and "haproxy_process_" in body
    assert _get(vip, metrics.protocol_port, "/other")[0] == 404


def _show_stat(sock_path: Path) -> dict[str, dict[str, str]]:
    """`show stat` over the stats socket, rows by server name."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(sock_path))
        sock.sendall(b"show stat\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    lines = data.decode().splitlines()
    header = lines[0].lstrip("# ").split(",")
    return {
        row[1]: dict(zip(header, row, strict=False))
        for row in (line.split(",") for line in lines[1:] if line)
    }


@pytest.mark.skipif(shutil.which("ping") is None, reason="ping (iputils-ping) not installed")
def test_running_haproxy_terminates_tls_by_sni_and_pings_members(tmp_path, pki, backends, running_haproxy):
    import ssl

    from ostia.amphora.agent import ping_wrapper_script

    vip = f"127.0.100.{random.randint(100, 250)}"
    lb = make_lb(vip)
    tls = make_listener(
        lb,
        constants.TERMINATED_HTTPS,
        free_port(vip),
        tls_certificate_id="default",
        sni_container_refs=["other"],
    )
    make_member(make_pool(lb, constants.HTTP, listener=tls), "127.0.0.1", backends[0].port)
    tcp = make_listener(lb, constants.TCP, free_port(vip))
    pinged = make_pool(lb, constants.TCP, listener=tcp)
    make_hm(pinged, constants.HM_PING, delay=1, timeout=1, rise_threshold=1, fall_threshold=1)
    reachable = make_member(pinged, "127.0.0.1", backends[1].port)
    unreachable = make_member(pinged, "198.18.255.254", 80)  # benchmark range, not routed

    text = render_in(lb, tmp_path, server_state=False)
    cfg = write_config(lb, text, tmp_path, pki)
    wrapper = tmp_path / "base" / "ping-wrapper.sh"
    wrapper.write_text(ping_wrapper_script())
    wrapper.chmod(0o755)
    haproxy_check(cfg)
    running_haproxy(cfg)
    _wait_for(vip, tls.protocol_port)

    context = ssl.create_default_context(cadata=pki.ca_pem.decode())
    for ref in ("default", "other"):
        # Each container's certificate names its own host; SNI must pick the right one.
        cert = x509.load_pem_x509_certificate(pki.get_cert("", ref).certificate)
        host = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        with context.wrap_socket(
            socket.create_connection((vip, tls.protocol_port)), server_hostname=host
        ) as conn:
            assert conn.getpeercert()["subject"][0][0][1] == host
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := conn.recv(4096):
                answer += chunk
            assert answer.endswith(b"backend1")

    deadline = time.monotonic() + 8
    while True:
        stats = _show_stat(tmp_path / "base" / f"{lb.id}.sock")
        states = (stats[reachable.id]["status"], stats[unreachable.id]["status"])
        if states == ("UP", "DOWN") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert states == ("UP", "DOWN")
    assert stats[reachable.id]["check_status"] == "PROCOK"
