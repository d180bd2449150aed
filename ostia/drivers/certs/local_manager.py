"""local_cert_manager: tenant TLS containers as files under `[certificates] storage_path`.

A container `<ref>` is the files `<ref>.crt`, `<ref>.key` and, when present, `<ref>.int`
(intermediates, concatenated PEM) and `<ref>.pass` (private key passphrase), all mode 0600.
A reference is a bare id (a UUID when Ostia makes it) or anything path- or URL-like whose
last segment is that id, so `https://barbican.example/v1/containers/<id>` works too.
"""

from __future__ import annotations

import os
import re
import uuid

from oslo_config import cfg

from ostia.common import exceptions
from ostia.common.tls import pem_blocks, write_pem_file
from ostia.drivers.certs.base import CertManager, TLSContainer
from ostia.drivers.certs.pem_checks import validate_container

_REF_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
_SUFFIXES = (".crt", ".key", ".int", ".pass", ".secret")


def ref_id(ref: str) -> str:
    """The storage id of a reference, or CertificateNotFound if it cannot name a file."""
    ident = ref.rstrip("/").rsplit("/", 1)[-1]
    if not _REF_ID.fullmatch(ident) or ".." in ident:
        raise exceptions.CertificateNotFound(ref)
    return ident


def split_intermediates(
    intermediates: list[bytes] | tuple[bytes, ...] | bytes | None,
) -> tuple[bytes, ...]:
    if not intermediates:
        return ()
    if isinstance(intermediates, bytes):
        intermediates = [intermediates]
    blocks: list[bytes] = []
    for item in intermediates:
        found = [block for label, block in pem_blocks(item) if label == "CERTIFICATE"]
        if not found:
            raise exceptions.InvalidCertificate("intermediates hold no PEM certificate")
        blocks.extend(found)
    return tuple(blocks)


def optional_bytes(value: bytes | str | None) -> bytes | None:
    if value is None or value == b"" or value == "":
        return None
    return value.encode() if isinstance(value, str) else value


class LocalCertManager(CertManager):
    returns_tenant_pem = True

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf

    @property
    def storage_path(self) -> str:
        return self.conf.certificates.storage_path

    def _base(self, ident: str) -> str:
        return os.path.join(self.storage_path, ident)

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
            certificate=optional_bytes(certificate) or b"",
            private_key=optional_bytes(private_key) or b"",
            intermediates=split_intermediates(intermediates),
            passphrase=optional_bytes(passphrase),
            id=ident,
        )
        validate_container(container)
        os.makedirs(self.storage_path, mode=0o700, exist_ok=True)
        base = self._base(ident)
        try:
            write_pem_file(base + ".crt", container.certificate)
            write_pem_file(base + ".key", container.private_key)
            if container.intermediates:
                write_pem_file(base + ".int", b"".join(container.intermediates))
            if container.passphrase:
                write_pem_file(base + ".pass", container.passphrase)
        except BaseException:
            # No half-written container under an id its caller never learns.
            self.delete_cert(project_id, ident)
            raise
        return ident

    def get_cert(self, project_id: str, ref: str) -> TLSContainer:
        ident = ref_id(ref)
        base = self._base(ident)
        try:
            with open(base + ".crt", "rb") as handle:
                certificate = handle.read()
        except FileNotFoundError:
            raise exceptions.CertificateNotFound(ref) from None
        try:
            with open(base + ".key", "rb") as handle:
                private_key = handle.read()
        except FileNotFoundError:
            raise exceptions.InvalidCertificate(f"{ref}: private key file missing") from None
        intermediates = self._read_optional(base + ".int")
        container = TLSContainer(
            certificate=certificate,
            private_key=private_key,
            intermediates=split_intermediates(intermediates),
            passphrase=self._read_optional(base + ".pass"),
            id=ident,
        )
        validate_container(container)
        return container

    def store_secret(self, project_id: str, data: bytes) -> str:
        """A CA bundle or CRL (PEM) as `<id>.secret`."""
        if b"-----BEGIN " not in data:
            raise exceptions.InvalidCertificate("secret: not a PEM document")
        ident = str(uuid.uuid4())
        os.makedirs(self.storage_path, mode=0o700, exist_ok=True)
        write_pem_file(self._base(ident) + ".secret", data)
        return ident

    def get_secret(self, project_id: str, ref: str) -> bytes:
        secret = self._read_optional(self._base(ref_id(ref)) + ".secret")
        if secret is not None:
            return secret
        certificate = self._read_optional(self._base(ref_id(ref)) + ".crt")
        if certificate is None:
            raise exceptions.CertificateNotFound(ref)
        return certificate

    def delete_cert(self, project_id: str, ref: str) -> None:
        try:
            ident = ref_id(ref)
        except exceptions.CertificateNotFound:
            return
        for suffix in _SUFFIXES:
            try:
                os.unlink(self._base(ident) + suffix)
            except FileNotFoundError:
                pass

    @staticmethod
    def _read_optional(path: str) -> bytes | None:
        try:
            with open(path, "rb") as handle:
                return handle.read() or None
        except FileNotFoundError:
            return None
