"""noop_cert_manager: in-memory containers; any unknown reference is a self-signed sample.

For API-only deployments and tests: TERMINATED_HTTPS listeners can be created with any
reference, as with upstream's noop manager.
"""

from __future__ import annotations

import datetime
import threading
import uuid

from oslo_config import cfg

from ostia.drivers.certs import x509
from ostia.drivers.certs.base import CertManager, TLSContainer
from ostia.drivers.certs.local_manager import optional_bytes, split_intermediates


class NoopCertManager(CertManager):
    def __init__(self, conf: cfg.ConfigOpts | None = None) -> None:
        self.conf = conf
        self._lock = threading.Lock()
        self._containers: dict[str, TLSContainer] = {}
        self._secrets: dict[str, bytes] = {}

    def store_cert(
        self,
        project_id: str,
        certificate: bytes,
        private_key: bytes,
        intermediates: list[bytes] | tuple[bytes, ...] | bytes | None = None,
        passphrase: bytes | str | None = None,
    ) -> str:
        ident = str(uuid.uuid4())
        container = TLSContainer(
            certificate=certificate,
            private_key=private_key,
            intermediates=split_intermediates(intermediates),
            passphrase=optional_bytes(passphrase),
            id=ident,
        )
        with self._lock:
            self._containers[ident] = container
        return ident

    def get_cert(self, project_id: str, ref: str) -> TLSContainer:
        with self._lock:
            container = self._containers.get(ref)
            if container is None:
                container = self._sample(ref)
                self._containers[ref] = container
            return container

    def store_secret(self, project_id: str, data: bytes) -> str:
        ident = str(uuid.uuid4())
        with self._lock:
            self._secrets[ident] = data
        return ident

    def get_secret(self, project_id: str, ref: str) -> bytes:
        with self._lock:
            secret = self._secrets.get(ref)
        return secret if secret is not None else self.get_cert(project_id, ref).certificate

    def delete_cert(self, project_id: str, ref: str) -> None:
        with self._lock:
            self._containers.pop(ref, None)

    @staticmethod
    def _sample(ref: str) -> TLSContainer:
        key = x509.new_private_key()
        name = x509.name("noop.example.com")
        cert = x509.build_certificate(
            subject=name,
            public_key=key.public_key(),
            issuer=name,
            issuer_key=key,
            validity=datetime.timedelta(days=365),
            server=True,
            alt_names=["noop.example.com"],
        )
        return TLSContainer(certificate=x509.cert_to_pem(cert), private_key=x509.key_to_pem(key), id=ref)
