"""Certificate driver interfaces: tenant TLS containers and amphora server certificates."""

from __future__ import annotations

import abc
import dataclasses
import datetime

from ostia.common import exceptions


@dataclasses.dataclass(frozen=True)
class TLSContainer:
    """A tenant's certificate as a listener or pool uses it. Every field is PEM bytes."""

    certificate: bytes
    private_key: bytes
    intermediates: tuple[bytes, ...] = ()
    passphrase: bytes | None = None
    id: str | None = None

    def unencrypted_private_key(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM (haproxy cannot ask for a passphrase)."""
        from ostia.drivers.certs import x509

        try:
            key = x509.load_private_key(self.private_key, self.passphrase)
        except (ValueError, TypeError) as exc:
            raise exceptions.InvalidCertificate(
                f"private key of {self.id or 'container'} does not load: {exc}"
            ) from exc
        return x509.key_to_pem(key)

    def haproxy_pem(self) -> bytes:
        """Certificate, intermediates and unencrypted key in one file, as haproxy's `crt` reads."""
        parts = [self.certificate, *self.intermediates, self.unencrypted_private_key()]
        return b"".join(part if part.endswith(b"\n") else part + b"\n" for part in parts)

    def primary_cn(self) -> str | None:
        from cryptography import x509 as cx509

        from ostia.drivers.certs import x509

        return x509.common_name(cx509.load_pem_x509_certificate(self.certificate))

    def dns_names(self) -> list[str]:
        """Subject alternative DNS names, for SNI."""
        from cryptography import x509 as cx509

        from ostia.drivers.certs import x509

        return x509.dns_names(cx509.load_pem_x509_certificate(self.certificate))


@dataclasses.dataclass(frozen=True)
class AmphoraCertificate:
    """An amphora's server certificate and its key, as the agent's `server.pem` holds them."""

    certificate: bytes
    private_key: bytes
    expiration: datetime.datetime

    @property
    def pem(self) -> bytes:
        return self.certificate + self.private_key


class CertManager(abc.ABC):
    """Stores tenant TLS containers and hands them back by reference."""

    # Whether what get_cert/get_secret return is the tenant's real PEM (then the API
    # parses it as haproxy will); the noop manager makes up a sample for any reference.
    returns_tenant_pem: bool = False

    @abc.abstractmethod
    def store_cert(
        self,
        project_id: str,
        certificate: bytes,
        private_key: bytes,
        intermediates: list[bytes] | tuple[bytes, ...] | bytes | None = None,
        passphrase: bytes | str | None = None,
    ) -> str:
        """Store a container and return its reference."""

    @abc.abstractmethod
    def get_cert(self, project_id: str, ref: str) -> TLSContainer:
        """Raises CertificateNotFound or InvalidCertificate."""

    @abc.abstractmethod
    def delete_cert(self, project_id: str, ref: str) -> None:
        """Forget a container; deleting an unknown reference is not an error."""

    @abc.abstractmethod
    def store_secret(self, project_id: str, data: bytes) -> str:
        """Store a secret with no key (a CA bundle or a CRL, PEM) and return its reference."""

    def get_secret(self, project_id: str, ref: str) -> bytes:
        """A secret stored with `store_secret`; a certificate container serves as a CA too."""
        return self.get_cert(project_id, ref).certificate


class CertGenerator(abc.ABC):
    """Signs amphora server certificates with the controller's server CA."""

    @abc.abstractmethod
    def generate_amphora_cert(self, amphora_id: str) -> AmphoraCertificate:
        """A fresh key and a certificate whose CN and DNS name are `amphora_id`."""
