"""The controller's certificate authorities (what upstream's bin/create_certificates.sh makes).

Two CAs and one client certificate, in the file names devstack uses:

    <dir>/server_ca.cert.pem            signs amphora server certificates; the controller
    <dir>/private/server_ca.key.pem     trusts agents through it ([haproxy_amphora] server_ca)
    <dir>/client_ca.cert.pem            signs the controller's client certificate; shipped to
    <dir>/private/client_ca.key.pem     amphorae ([controller_worker] client_ca)
    <dir>/client.cert-and-key.pem       the controller's client cert + key
                                        ([haproxy_amphora] client_cert)

Both CA keys are encrypted with one passphrase ([certificates] ca_private_key_passphrase).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import secrets

from cryptography import x509 as cx509
from cryptography.hazmat.primitives.asymmetric import ec

from ostia.common.tls import write_pem_file
from ostia.drivers.certs import x509

CA_VALIDITY = datetime.timedelta(days=7300)
CLIENT_VALIDITY = datetime.timedelta(days=7300)
CLIENT_COMMON_NAME = "ostia-controller"


@dataclasses.dataclass(frozen=True)
class CertificateFiles:
    directory: str
    server_ca_cert: str
    server_ca_key: str
    client_ca_cert: str
    client_ca_key: str
    client_cert_and_key: str
    passphrase: str | None = None

    @classmethod
    def in_directory(cls, directory: str, passphrase: str | None = None) -> CertificateFiles:
        """The file names under `directory`, whether or not they exist yet."""
        directory = os.path.abspath(directory)
        private = os.path.join(directory, "private")
        return cls(
            directory=directory,
            server_ca_cert=os.path.join(directory, "server_ca.cert.pem"),
            server_ca_key=os.path.join(private, "server_ca.key.pem"),
            client_ca_cert=os.path.join(directory, "client_ca.cert.pem"),
            client_ca_key=os.path.join(private, "client_ca.key.pem"),
            client_cert_and_key=os.path.join(directory, "client.cert-and-key.pem"),
            passphrase=passphrase,
        )

    def paths(self) -> list[str]:
        return [
            self.server_ca_cert,
            self.server_ca_key,
            self.client_ca_cert,
            self.client_ca_key,
            self.client_cert_and_key,
        ]

    def exist(self) -> bool:
        return all(os.path.exists(path) for path in self.paths())

    def options(self) -> dict[tuple[str, str], str]:
        """(section, option) -> value for octavia.conf."""
        values = {
            ("certificates", "ca_certificate"): self.server_ca_cert,
            ("certificates", "ca_private_key"): self.server_ca_key,
            ("haproxy_amphora", "client_cert"): self.client_cert_and_key,
            ("haproxy_amphora", "server_ca"): self.server_ca_cert,
            ("controller_worker", "client_ca"): self.client_ca_cert,
        }
        if self.passphrase:
            values[("certificates", "ca_private_key_passphrase")] = self.passphrase
        return values

    def octavia_conf_lines(self) -> str:
        """The octavia.conf snippet to paste, one section per block."""
        sections: dict[str, list[str]] = {}
        for (section, option), value in self.options().items():
            sections.setdefault(section, []).append(f"{option} = {value}")
        return "\n\n".join(f"[{section}]\n" + "\n".join(lines) for section, lines in sections.items()) + "\n"


def create_certificates(
    directory: str, passphrase: str | None = None, *, overwrite: bool = False
) -> CertificateFiles:
    """Create the server CA, the client CA and the controller's client certificate.

    A random passphrase is made when none is given; it is returned in the result. Existing
    files are kept (FileExistsError) unless `overwrite` is true, because a new server CA
    orphans every amphora certificate it signed.
    """
    files = CertificateFiles.in_directory(directory, passphrase or secrets.token_urlsafe(24))
    if not overwrite:
        present = [path for path in files.paths() if os.path.exists(path)]
        if present:
            raise FileExistsError(f"certificate files already exist: {', '.join(present)}")
    os.makedirs(files.directory, mode=0o755, exist_ok=True)
    os.makedirs(os.path.dirname(files.server_ca_key), mode=0o700, exist_ok=True)
    os.chmod(os.path.dirname(files.server_ca_key), 0o700)

    server_ca_key, server_ca = _new_ca("Ostia server CA")
    client_ca_key, client_ca = _new_ca("Ostia client CA")
    client_key = x509.new_private_key()
    client_cert = x509.build_certificate(
        subject=x509.name(CLIENT_COMMON_NAME),
        public_key=client_key.public_key(),
        issuer=client_ca.subject,
        issuer_key=client_ca_key,
        issuer_cert=client_ca,
        validity=CLIENT_VALIDITY,
        client=True,
    )

    write_pem_file(files.server_ca_cert, x509.cert_to_pem(server_ca), mode=0o644)
    write_pem_file(files.server_ca_key, x509.key_to_pem(server_ca_key, files.passphrase))
    write_pem_file(files.client_ca_cert, x509.cert_to_pem(client_ca), mode=0o644)
    write_pem_file(files.client_ca_key, x509.key_to_pem(client_ca_key, files.passphrase))
    write_pem_file(files.client_cert_and_key, x509.cert_to_pem(client_cert) + x509.key_to_pem(client_key))
    return files


def _new_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, cx509.Certificate]:
    key = x509.new_private_key()
    subject = x509.name(common_name)
    cert = x509.build_certificate(
        subject=subject,
        public_key=key.public_key(),
        issuer=subject,
        issuer_key=key,
        validity=CA_VALIDITY,
        is_ca=True,
    )
    return key, cert
