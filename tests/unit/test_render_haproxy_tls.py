"""The TLS files a rendered configuration reads: names, crt-lists, PEM bundles."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ostia.common import constants
from ostia.controller.worker.haproxy.render import tls_files
from ostia.controller.worker.haproxy.tls import cert_file_name
from ostia.drivers.certs.base import CertManager
from tests.unit.test_render_haproxy_fixtures import make_lb, make_listener, make_pool


def self_signed(cn: str) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), key


class CertOnlyManager:
    """Containers by ref, and nothing else."""

    def __init__(self) -> None:
        self.containers: dict[str, SimpleNamespace] = {}
        self.secrets: dict[str, bytes] = {}
        self.calls: list[tuple[str, str]] = []

    def add(self, ref: str, passphrase: bytes | None = None, intermediates: object = ()) -> bytes:
        cert, key = self_signed(ref)
        encryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
        )
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        self.containers[ref] = SimpleNamespace(
            certificate=cert, private_key=key_pem, intermediates=intermediates, passphrase=passphrase
        )
        return cert

    def get_cert(self, project_id: str, ref: str) -> SimpleNamespace:
        self.calls.append((project_id, ref))
        return self.containers[ref]

    # What a manager without secrets of its own serves: the base class's default.
    get_secret = CertManager.get_secret


class FakeCertManager(CertOnlyManager):
    """...plus CA bundles and CRLs as secrets, like a Barbican-backed manager."""

    def get_secret(self, project_id: str, ref: str) -> bytes:
        return self.secrets[ref]


def test_listener_files_crt_list_default_first_then_sni():
    lb = make_lb(project_id="tenant")
    listener = make_listener(
        lb,
        constants.TERMINATED_HTTPS,
        443,
        tls_certificate_id="main",
        sni_container_refs=["sni-1", "main", "sni-2"],
        client_ca_tls_certificate_id="ca",
        client_authentication="OPTIONAL",
        client_crl_container_id="crl",
    )
    manager = FakeCertManager()
    for ref in ("main", "sni-1", "sni-2"):
        manager.add(ref)
    manager.secrets.update({"ca": b"CA PEM", "crl": b"CRL PEM\n"})
    files = tls_files(lb, manager, cert_dir="/certs")
    names = [cert_file_name(r) for r in ("main", "sni-1", "sni-2")]
    assert files[f"{listener.id}.pem"] == "".join(f"/certs/{lb.id}/{name}\n" for name in names).encode()
    assert files[f"{listener.id}-ca.pem"] == b"CA PEM\n"
    assert files[f"{listener.id}-crl.pem"] == b"CRL PEM\n"
    assert set(files) == {f"{listener.id}.pem", f"{listener.id}-ca.pem", f"{listener.id}-crl.pem", *names}
    assert {project for project, _ in manager.calls} == {"tenant"}


def test_bundle_has_certificate_intermediates_and_decrypted_key():
    lb = make_lb()
    make_listener(lb, constants.TERMINATED_HTTPS, 443, tls_certificate_id="enc")
    manager = FakeCertManager()
    inter, _ = self_signed("intermediate")
    cert = manager.add("enc", passphrase=b"secret", intermediates=[inter])
    bundle = tls_files(lb, manager, cert_dir="/c")[cert_file_name("enc")]
    assert bundle.startswith(cert + inter)
    assert b"ENCRYPTED" not in bundle
    key = serialization.load_pem_private_key(bundle[len(cert + inter) :], password=None)
    assert key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == x509.load_pem_x509_certificate(cert).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_pool_files_client_certificate_ca_and_crl():
    lb = make_lb()
    listener = make_listener(lb)
    pool = make_pool(
        lb,
        listener=listener,
        tls_enabled=True,
        tls_certificate_id="client",
        ca_tls_certificate_id="pool-ca",
        crl_container_id="pool-crl",
    )
    manager = FakeCertManager()
    manager.add("client")
    manager.secrets.update({"pool-ca": b"PCA\n", "pool-crl": b"PCRL\n"})
    files = tls_files(lb, manager, cert_dir="/c")
    assert set(files) == {cert_file_name("client"), f"{pool.id}-ca.pem", f"{pool.id}-crl.pem"}


def test_ca_comes_from_the_certificate_when_the_manager_stores_no_secrets():
    lb = make_lb()
    listener = make_listener(
        lb,
        constants.TERMINATED_HTTPS,
        443,
        tls_certificate_id="main",
        client_ca_tls_certificate_id="ca-container",
    )
    manager = CertOnlyManager()
    manager.add("main")
    ca_cert = manager.add("ca-container")
    files = tls_files(lb, manager, cert_dir="/c")
    assert files[f"{listener.id}-ca.pem"] == ca_cert


def test_no_tls_no_files():
    lb = make_lb()
    listener = make_listener(lb)
    make_pool(lb, listener=listener)
    assert tls_files(lb, FakeCertManager(), cert_dir="/c") == {}


def test_disabled_listener_needs_no_files():
    lb = make_lb()
    make_listener(lb, constants.TERMINATED_HTTPS, 443, tls_certificate_id="x", enabled=False)
    assert tls_files(lb, FakeCertManager(), cert_dir="/c") == {}
