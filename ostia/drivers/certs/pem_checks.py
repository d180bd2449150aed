"""Certificate containers, CA bundles and CRLs parsed before a listener or pool uses them.

haproxy loads a `ca-file` or `crl-file` when it reads the configuration: a secret that is
not what it claims to be makes `haproxy -c` refuse the whole load balancer. The API checks
a referenced secret here when it resolves the reference, so the tenant gets a 400 instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from ostia.common import exceptions
from ostia.common.tls import pem_blocks
from ostia.drivers.certs import x509 as ostia_x509

if TYPE_CHECKING:
    from ostia.drivers.certs.base import TLSContainer


def validate_container(container: TLSContainer) -> None:
    """Raise InvalidCertificate unless the parts load and the key matches the certificate."""
    label = container.id or "container"
    try:
        cert = x509.load_pem_x509_certificate(container.certificate)
    except ValueError as exc:
        raise exceptions.InvalidCertificate(f"{label}: certificate does not load: {exc}") from exc
    try:
        key = ostia_x509.load_private_key(container.private_key, container.passphrase)
    except TypeError as exc:
        raise exceptions.InvalidCertificate(
            f"{label}: private key passphrase missing or not needed: {exc}"
        ) from exc
    except ValueError as exc:
        raise exceptions.InvalidCertificate(
            f"{label}: private key does not load (wrong passphrase?): {exc}"
        ) from exc
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    pem = serialization.Encoding.PEM
    if key.public_key().public_bytes(pem, fmt) != cert.public_key().public_bytes(pem, fmt):
        raise exceptions.InvalidCertificate(f"{label}: private key does not match certificate")
    for block in container.intermediates:
        try:
            x509.load_pem_x509_certificate(block)
        except ValueError as exc:
            raise exceptions.InvalidCertificate(f"{label}: intermediate does not load: {exc}") from exc


def ca_bundle(pem: bytes, label: str) -> list[x509.Certificate]:
    """Every certificate of a PEM CA bundle; InvalidCertificate unless there is at least
    one and every CERTIFICATE block parses."""
    blocks = [block for kind, block in pem_blocks(pem) if kind == "CERTIFICATE"]
    if not blocks:
        raise exceptions.InvalidCertificate(f"{label}: holds no PEM certificate")
    certificates = []
    for block in blocks:
        try:
            certificates.append(x509.load_pem_x509_certificate(block))
        except ValueError as err:
            raise exceptions.InvalidCertificate(f"{label}: a certificate does not parse: {err}") from None
    return certificates


def crl(pem: bytes, label: str, issuers: list[x509.Certificate]) -> x509.CertificateRevocationList:
    """The CRL of a PEM document; InvalidCertificate unless it parses and one of `issuers`
    (the CA bundle it goes with) signed it."""
    blocks = [block for kind, block in pem_blocks(pem) if kind == "X509 CRL"]
    if not blocks:
        raise exceptions.InvalidCertificate(f"{label}: holds no PEM CRL")
    try:
        revocations = [x509.load_pem_x509_crl(block) for block in blocks]
    except ValueError as err:
        raise exceptions.InvalidCertificate(f"{label}: the CRL does not parse: {err}") from None
    for revocation in revocations:
        if not any(_signed_by(revocation, issuer) for issuer in issuers):
            raise exceptions.InvalidCertificate(f"{label}: the CRL is not signed by the CA it is used with")
    return revocations[0]


def _signed_by(revocation: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    if revocation.issuer != issuer.subject:
        return False
    key = issuer.public_key()
    if not isinstance(
        key,
        rsa.RSAPublicKey
        | ec.EllipticCurvePublicKey
        | dsa.DSAPublicKey
        | ed25519.Ed25519PublicKey
        | ed448.Ed448PublicKey,
    ):
        return False
    return revocation.is_signature_valid(key)
