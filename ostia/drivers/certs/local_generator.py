"""local_cert_generator: signs amphora server certificates with the server CA on disk."""

from __future__ import annotations

import datetime
import os
import threading

from cryptography import x509 as cx509
from oslo_config import cfg

from ostia.common import exceptions
from ostia.drivers.certs import x509
from ostia.drivers.certs.base import AmphoraCertificate, CertGenerator


class LocalCertGenerator(CertGenerator):
    """Signs with `[certificates] ca_certificate` / `ca_private_key` (+ passphrase).

    The CA is read on first use and again whenever its files change on disk.
    """

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf
        self._lock = threading.Lock()
        self._ca: tuple[tuple[str, str, float, float], cx509.Certificate, object] | None = None

    def generate_amphora_cert(self, amphora_id: str) -> AmphoraCertificate:
        validity = datetime.timedelta(seconds=self.conf.certificates.cert_validity_time)
        return self.generate_cert_key_pair(amphora_id, validity)

    def generate_cert_key_pair(self, common_name: str, validity: datetime.timedelta) -> AmphoraCertificate:
        """A new key and a server certificate with CN and DNS alt name `common_name`."""
        ca_cert, ca_key = self._load_ca()
        key = x509.new_private_key()
        cert = x509.build_certificate(
            subject=x509.name(common_name),
            public_key=key.public_key(),
            issuer=ca_cert.subject,
            issuer_key=ca_key,  # type: ignore[arg-type]
            issuer_cert=ca_cert,
            validity=validity,
            server=True,
            alt_names=[common_name],
            signing_digest=self.conf.certificates.signing_digest,
        )
        return AmphoraCertificate(
            certificate=x509.cert_to_pem(cert),
            private_key=x509.key_to_pem(key),
            expiration=cert.not_valid_after_utc,
        )

    def _load_ca(self) -> tuple[cx509.Certificate, object]:
        opts = self.conf.certificates
        try:
            stamp = (
                opts.ca_certificate,
                opts.ca_private_key,
                os.stat(opts.ca_certificate).st_mtime,
                os.stat(opts.ca_private_key).st_mtime,
            )
        except OSError as exc:
            raise exceptions.CertificateError(f"server CA not readable: {exc}") from exc
        with self._lock:
            if self._ca is not None and self._ca[0] == stamp:
                return self._ca[1], self._ca[2]
            try:
                with open(opts.ca_certificate, "rb") as handle:
                    ca_cert = cx509.load_pem_x509_certificate(handle.read())
                with open(opts.ca_private_key, "rb") as handle:
                    ca_key = x509.load_private_key(handle.read(), opts.ca_private_key_passphrase)
            except (OSError, ValueError, TypeError) as exc:
                raise exceptions.CertificateError(
                    f"cannot load the server CA ({opts.ca_certificate}, {opts.ca_private_key}): {exc}"
                ) from exc
            self._ca = (stamp, ca_cert, ca_key)
            return ca_cert, ca_key
