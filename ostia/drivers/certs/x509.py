"""Building blocks for keys and X.509 certificates (the `cryptography` package).

Keys are ECDSA P-256: generating one takes well under a millisecond, where an RSA key costs
tens of milliseconds on every amphora build.
"""

from __future__ import annotations

import datetime
import ipaddress
import uuid
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SigningDigest = hashes.SHA256 | hashes.SHA384 | hashes.SHA512

DIGESTS: dict[str, type[SigningDigest]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

# Certificates start a little in the past so that small clock differences between the
# controller and an amphora never make a fresh certificate "not yet valid".
BACKDATE = datetime.timedelta(minutes=5)


def new_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def digest(name: str) -> SigningDigest:
    try:
        return DIGESTS[name.lower()]()
    except KeyError:
        raise ValueError(f"unsupported signing digest {name!r}; choose one of {', '.join(DIGESTS)}") from None


def key_to_pem(key: PrivateKeyTypes, passphrase: str | bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption
    if passphrase:
        if isinstance(passphrase, str):
            passphrase = passphrase.encode()
        encryption = serialization.BestAvailableEncryption(passphrase)
    else:
        encryption = serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def load_private_key(pem: bytes, passphrase: str | bytes | None = None) -> PrivateKeyTypes:
    if isinstance(passphrase, str):
        passphrase = passphrase.encode()
    return serialization.load_pem_private_key(pem, password=passphrase or None)


def cert_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def name(common_name: str, organization: str = "Ostia") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _alt_names(names: Sequence[str]) -> list[x509.GeneralName]:
    result: list[x509.GeneralName] = []
    for value in names:
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            result.append(x509.DNSName(value))
    return result


def build_certificate(
    *,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey | object,
    issuer: x509.Name,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    validity: datetime.timedelta,
    is_ca: bool = False,
    server: bool = False,
    client: bool = False,
    alt_names: Sequence[str] = (),
    issuer_cert: x509.Certificate | None = None,
    signing_digest: str = "sha256",
) -> x509.Certificate:
    """Sign a certificate for `public_key` with the usual extensions for its role."""
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(uuid.uuid4().int >> 1)
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        usages = []
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(_alt_names(alt_names)), critical=False)
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_cert.public_key()  # type: ignore[arg-type]
            ),
            critical=False,
        )
    elif is_ca:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key),  # type: ignore[arg-type]
            critical=False,
        )
    return builder.sign(issuer_key, digest(signing_digest))


def common_name(cert: x509.Certificate) -> str | None:
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def dns_names(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(ext.value.get_values_for_type(x509.DNSName))
