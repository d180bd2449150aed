"""Certificate authority files, amphora certificates and tenant certificate managers."""

from __future__ import annotations

import datetime
import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ostia.common import exceptions
from ostia.common.config import new_config
from ostia.common.tls import check_cert_and_key, split_cert_and_key
from ostia.drivers.certs import x509 as ostia_x509
from ostia.drivers.certs.authority import CertificateFiles, create_certificates
from ostia.drivers.certs.base import TLSContainer
from ostia.drivers.certs.local_generator import LocalCertGenerator
from ostia.drivers.certs.local_manager import LocalCertManager
from ostia.drivers.certs.noop_manager import NoopCertManager

AMPHORA_ID = "5b0f1c1e-8f4e-4a43-9a55-0d1f6a1b2c3d"


@pytest.fixture(scope="module")
def ca_files(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    return create_certificates(str(tmp_path_factory.mktemp("ca")), "secret-passphrase")


def conf_for(files: CertificateFiles, **certificates: object):  # type: ignore[no-untyped-def]
    conf = new_config()
    conf([], project="octavia", default_config_files=[])
    for (section, option), value in files.options().items():
        conf.set_override(option, value, group=section)
    for option, value in certificates.items():
        conf.set_override(option, value, group="certificates")
    return conf


def _load(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# -- create_certificates ---------------------------------------------------------------------


def test_create_certificates_writes_devstack_file_names(ca_files: CertificateFiles):
    names = [os.path.relpath(path, ca_files.directory) for path in ca_files.paths()]
    assert names == [
        "server_ca.cert.pem",
        "private/server_ca.key.pem",
        "client_ca.cert.pem",
        "private/client_ca.key.pem",
        "client.cert-and-key.pem",
    ]
    assert ca_files.exist()
    assert _mode(os.path.join(ca_files.directory, "private")) == 0o700
    assert _mode(ca_files.server_ca_key) == 0o600 and _mode(ca_files.client_ca_key) == 0o600
    assert _mode(ca_files.client_cert_and_key) == 0o600


def test_ca_keys_need_the_passphrase(ca_files: CertificateFiles):
    for path in (ca_files.server_ca_key, ca_files.client_ca_key):
        with pytest.raises(TypeError):
            serialization.load_pem_private_key(_load(path), password=None)
        serialization.load_pem_private_key(_load(path), password=b"secret-passphrase")


def test_client_certificate_is_signed_by_the_client_ca_for_client_auth(ca_files):
    certs, _ = split_cert_and_key(_load(ca_files.client_cert_and_key))
    client = x509.load_pem_x509_certificate(certs[0])
    client_ca = x509.load_pem_x509_certificate(_load(ca_files.client_ca_cert))
    client.verify_directly_issued_by(client_ca)
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in usage
    check_cert_and_key(_load(ca_files.client_cert_and_key))


def test_conf_lines_name_every_option(ca_files: CertificateFiles):
    text = ca_files.octavia_conf_lines()
    for line in (
        "[certificates]",
        f"ca_certificate = {ca_files.server_ca_cert}",
        f"ca_private_key = {ca_files.server_ca_key}",
        "ca_private_key_passphrase = secret-passphrase",
        "[haproxy_amphora]",
        f"client_cert = {ca_files.client_cert_and_key}",
        f"server_ca = {ca_files.server_ca_cert}",
        "[controller_worker]",
        f"client_ca = {ca_files.client_ca_cert}",
    ):
        assert line in text.splitlines()


def test_existing_certificates_are_not_overwritten_unless_asked(ca_files, tmp_path):
    with pytest.raises(FileExistsError):
        create_certificates(ca_files.directory)
    fresh = create_certificates(str(tmp_path / "ca"))
    assert fresh.passphrase and len(fresh.passphrase) >= 24
    first_ca = _load(fresh.server_ca_cert)
    again = create_certificates(str(tmp_path / "ca"), overwrite=True)
    assert _load(again.server_ca_cert) != first_ca


# -- LocalCertGenerator -----------------------------------------------------------------------


def test_amphora_certificate_names_the_amphora_and_is_signed_by_the_server_ca(ca_files):
    generated = LocalCertGenerator(conf_for(ca_files, cert_validity_time=3600)).generate_amphora_cert(
        AMPHORA_ID
    )

    cert = x509.load_pem_x509_certificate(generated.certificate)
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(_load(ca_files.server_ca_cert)))
    assert ostia_x509.common_name(cert) == AMPHORA_ID
    assert ostia_x509.dns_names(cert) == [AMPHORA_ID]
    expected = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=3600)
    assert abs((generated.expiration - expected).total_seconds()) < 60
    assert generated.expiration == cert.not_valid_after_utc
    check_cert_and_key(generated.pem)


def test_generator_reports_a_wrong_passphrase_or_a_missing_ca(ca_files, tmp_path):
    with pytest.raises(exceptions.CertificateError, match="cannot load"):
        LocalCertGenerator(conf_for(ca_files, ca_private_key_passphrase="wrong")).generate_amphora_cert(
            AMPHORA_ID
        )
    with pytest.raises(exceptions.CertificateError, match="not readable"):
        LocalCertGenerator(
            conf_for(ca_files, ca_certificate=str(tmp_path / "none.pem"))
        ).generate_amphora_cert(AMPHORA_ID)


# -- LocalCertManager -------------------------------------------------------------------------


def tenant_certificate(passphrase: bytes | None = None) -> tuple[bytes, bytes, bytes]:
    """(certificate signed by an intermediate, key, intermediate)."""
    root_key = ostia_x509.new_private_key()
    root = ostia_x509.build_certificate(
        subject=ostia_x509.name("Root"),
        public_key=root_key.public_key(),
        issuer=ostia_x509.name("Root"),
        issuer_key=root_key,
        validity=datetime.timedelta(days=2),
        is_ca=True,
    )
    inter_key = ostia_x509.new_private_key()
    inter = ostia_x509.build_certificate(
        subject=ostia_x509.name("Intermediate"),
        public_key=inter_key.public_key(),
        issuer=root.subject,
        issuer_key=root_key,
        issuer_cert=root,
        validity=datetime.timedelta(days=2),
        is_ca=True,
    )
    key = ostia_x509.new_private_key()
    cert = ostia_x509.build_certificate(
        subject=ostia_x509.name("www.example.com"),
        public_key=key.public_key(),
        issuer=inter.subject,
        issuer_key=inter_key,
        issuer_cert=inter,
        validity=datetime.timedelta(days=2),
        server=True,
        alt_names=["www.example.com", "example.com"],
    )
    return (
        ostia_x509.cert_to_pem(cert),
        ostia_x509.key_to_pem(key, passphrase),
        ostia_x509.cert_to_pem(inter),
    )


def test_local_manager_stores_and_returns_a_container(ca_files, tmp_path):
    manager = LocalCertManager(conf_for(ca_files, storage_path=str(tmp_path / "store")))
    cert, key, inter = tenant_certificate(b"pw")

    ref = manager.store_cert("project", cert, key, intermediates=[inter], passphrase="pw")
    container = manager.get_cert("project", ref)

    assert container == TLSContainer(cert, key, (inter,), b"pw", ref)
    assert container.primary_cn() == "www.example.com"
    assert container.dns_names() == ["www.example.com", "example.com"]
    for suffix in (".crt", ".key", ".int", ".pass"):
        assert _mode(str(tmp_path / "store" / f"{ref}{suffix}")) == 0o600
    pem = container.haproxy_pem()
    assert pem.startswith(cert) and inter in pem and b"ENCRYPTED" not in pem
    check_cert_and_key(pem)


def test_local_manager_finds_a_container_by_url_like_reference(ca_files, tmp_path):
    manager = LocalCertManager(conf_for(ca_files, storage_path=str(tmp_path)))
    cert, key, _ = tenant_certificate()
    ref = manager.store_cert("p", cert, key)
    url = f"https://barbican.example/v1/containers/{ref}"
    assert manager.get_cert("p", url).certificate == cert


def test_local_manager_unknown_or_unsafe_reference_is_not_found(ca_files, tmp_path):
    manager = LocalCertManager(conf_for(ca_files, storage_path=str(tmp_path)))
    for ref in ("9a1e4c1c-0000-4000-8000-000000000000", "..", "a/../../etc/passwd", ""):
        with pytest.raises(exceptions.CertificateNotFound):
            manager.get_cert("p", ref)


def test_local_manager_refuses_a_key_that_does_not_match(ca_files, tmp_path):
    manager = LocalCertManager(conf_for(ca_files, storage_path=str(tmp_path)))
    cert, _, _ = tenant_certificate()
    _, other_key, _ = tenant_certificate()
    with pytest.raises(exceptions.InvalidCertificate, match="does not match"):
        manager.store_cert("p", cert, other_key)
    assert os.listdir(tmp_path) == []


def test_local_manager_refuses_a_wrong_passphrase_and_garbage(ca_files, tmp_path):
    manager = LocalCertManager(conf_for(ca_files, storage_path=str(tmp_path)))
    cert, key, _ = tenant_certificate(b"right")
    with pytest.raises(exceptions.InvalidCertificate):
        manager.store_cert("p", cert, key, passphrase=b"wrong")
    with pytest.raises(exceptions.InvalidCertificate):
        manager.store_cert("p", b"garbage", key, passphrase=b"right")


def test_local_manager_reports_a_damaged_container(ca_files, tmp_path):
    manager = LocalCertManager(conf_for(ca_files, storage_path=str(tmp_path)))
    cert, key, _ = tenant_certificate()
    ref = manager.store_cert("p", cert, key)
    (tmp_path / f"{ref}.key").write_bytes(tenant_certificate()[1])
    with pytest.raises(exceptions.InvalidCertificate):
        manager.get_cert("p", ref)


def test_local_manager_delete_is_idempotent(ca_files, tmp_path):
    manager = LocalCertManager(conf_for(ca_files, storage_path=str(tmp_path)))
    cert, key, _ = tenant_certificate()
    ref = manager.store_cert("p", cert, key)
    manager.delete_cert("p", ref)
    manager.delete_cert("p", ref)
    with pytest.raises(exceptions.CertificateNotFound):
        manager.get_cert("p", ref)
    assert os.listdir(tmp_path) == []


def test_noop_manager_answers_any_reference_with_a_usable_sample():
    manager = NoopCertManager()
    container = manager.get_cert("p", "anything")
    check_cert_and_key(container.haproxy_pem())
    cert, key, _ = tenant_certificate()
    ref = manager.store_cert("p", cert, key)
    assert manager.get_cert("p", ref).certificate == cert
