"""The TLS files a load balancer's haproxy configuration reads, and the options that use them.

Every file lives in `<cert_dir>/<lb_id>/` on the amphora and ends in `.pem` (the agent's
certificate upload takes `.pem` names only):

| file | content | used by |
|---|---|---|
| `<sha256(ref)[:32]>.pem` | certificate + intermediates + unencrypted key | crt-list lines, pool `crt` |
| `<listener_id>.pem` | crt-list: default certificate first, then the SNI ones | `bind ... ssl crt-list` |
| `<listener_id>-ca.pem`, `<listener_id>-crl.pem` | client CA / CRL of a listener | `ca-file`, `crl-file` |
| `<pool_id>-ca.pem`, `<pool_id>-crl.pem` | member CA / CRL of a pool | server `ca-file`, `crl-file` |

Certificates are named after their reference so that one container shared by listeners is
written once, and a new reference gives a new file (haproxy never serves a half-written one).
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization

from ostia.common import constants, limits, tls_ciphers
from ostia.controller.worker.haproxy.escape import (
    HaproxyRenderError,
    UnsafeValue,
    check_text,
    quote,
)
from ostia.db import models

# Upstream names the versions this way; the value is the haproxy option that disables one.
_DISABLE_VERSION = {
    "TLSv1": "no-tlsv10",
    "TLSv1.1": "no-tlsv11",
    "TLSv1.2": "no-tlsv12",
    "TLSv1.3": "no-tlsv13",
}
_CLIENT_VERIFY = {"NONE": "none", "OPTIONAL": "optional", "MANDATORY": "required"}


class CertSource(Protocol):
    """What the renderer needs from a cert manager (`ostia.drivers.certs.base.CertManager`)."""

    def get_cert(self, project_id: str, ref: str) -> Any: ...

    def get_secret(self, project_id: str, ref: str) -> bytes: ...


@dataclass(frozen=True)
class ListenerTls:
    """File names (not paths) a TLS-terminating listener uses."""

    crt_list: str
    certs: tuple[tuple[str, str], ...]  # (ref, file name), default certificate first
    ca: str | None
    crl: str | None


@dataclass(frozen=True)
class PoolTls:
    """File names (not paths) a pool that re-encrypts to its members uses."""

    crt: tuple[str, str] | None  # (ref, file name)
    ca: str | None
    crl: str | None


def cert_file_name(ref: str) -> str:
    # The name never shows the reference, but a reference with a control character is
    # refused all the same: nothing like that may reach the amphora.
    return hashlib.sha256(check_text(ref, "tls container ref").encode()).hexdigest()[:32] + ".pem"


def lb_cert_dir(cert_dir: str, lb_id: str) -> str:
    """The amphora-side directory of one load balancer's TLS files."""
    return posixpath.join(cert_dir, lb_id)


def listener_tls(listener: models.Listener) -> ListenerTls | None:
    """The listener's TLS files, or None when it does not terminate TLS."""
    refs = [r for r in [listener.tls_certificate_id, *(listener.sni_container_refs or [])] if r]
    if not refs:
        if listener.protocol == constants.TERMINATED_HTTPS:
            raise HaproxyRenderError(f"listener {listener.id} terminates TLS but has no certificate")
        return None
    if listener.protocol not in (constants.TERMINATED_HTTPS, constants.PROMETHEUS):
        return None
    certs = tuple((ref, cert_file_name(ref)) for ref in dict.fromkeys(refs))
    ca = f"{listener.id}-ca.pem" if _ref(listener.client_ca_tls_certificate_id) else None
    crl = f"{listener.id}-crl.pem" if ca and _ref(listener.client_crl_container_id) else None
    return ListenerTls(crt_list=f"{listener.id}.pem", certs=certs, ca=ca, crl=crl)


def pool_tls(pool: models.Pool) -> PoolTls | None:
    """The pool's TLS files, or None when it talks to its members in clear text."""
    if not pool.tls_enabled:
        return None
    ref = pool.tls_certificate_id
    ca = f"{pool.id}-ca.pem" if _ref(pool.ca_tls_certificate_id) else None
    crl = f"{pool.id}-crl.pem" if ca and _ref(pool.crl_container_id) else None
    return PoolTls(crt=(ref, cert_file_name(ref)) if ref else None, ca=ca, crl=crl)


def _ref(ref: str | None) -> bool:
    return bool(ref) and bool(check_text(ref, "tls container ref"))


def version_options(versions: Sequence[str], field: str) -> list[str]:
    """`no-sslv3` plus one `no-tlsvXX` per TLS version not in `versions`."""
    for version in versions:
        if version not in _DISABLE_VERSION and version != "SSLv3":
            raise UnsafeValue(field, version, "not a TLS version")
    return ["no-sslv3"] + [opt for v, opt in _DISABLE_VERSION.items() if v not in versions]


def cipher_options(ciphers: str, field: str) -> list[str]:
    """`ciphers` (TLS 1.2 and older) and `ciphersuites` (TLS 1.3) from one OpenSSL string.

    Octavia keeps both kinds in one colon-separated string; OpenSSL wants them apart.
    """
    if not limits.CIPHER_CHARS.fullmatch(ciphers):
        raise UnsafeValue(field, ciphers, "not an OpenSSL cipher string")
    legacy, suites = tls_ciphers.split(ciphers)
    options = []
    if legacy:
        options += ["ciphers", quote(":".join(legacy), field)]
    if suites:
        options += ["ciphersuites", quote(":".join(suites), field)]
    return options


def alpn_option(protocols: Sequence[str], field: str) -> list[str]:
    for proto in protocols:
        if proto not in constants.ALPN_PROTOCOLS:
            raise UnsafeValue(field, proto, "not an ALPN protocol")
    return ["alpn", ",".join(protocols)] if protocols else []


def bind_options(listener: models.Listener, tls: ListenerTls, directory: str, defaults: Any) -> list[str]:
    """The words after `bind <addr>:<port>` that terminate TLS for `listener`.

    `defaults` is the `[api_settings]` group (default ciphers, versions, ALPN).
    """
    mode = _CLIENT_VERIFY.get(listener.client_authentication or "NONE")
    if mode is None:
        raise UnsafeValue("client_authentication", listener.client_authentication, "unknown")
    options = ["ssl", "crt-list", quote(posixpath.join(directory, tls.crt_list), "cert_dir")]
    if tls.ca:
        options += ["ca-file", quote(posixpath.join(directory, tls.ca), "cert_dir"), "verify", mode]
        if tls.crl:
            options += ["crl-file", quote(posixpath.join(directory, tls.crl), "cert_dir")]
    elif mode != "none":
        raise HaproxyRenderError(f"listener {listener.id} verifies clients but has no CA")
    ciphers = listener.tls_ciphers or defaults.default_listener_ciphers
    versions = listener.tls_versions or defaults.default_listener_tls_versions
    alpn = listener.alpn_protocols or defaults.default_listener_alpn_protocols
    options += cipher_options(ciphers, "listener.tls_ciphers")
    options += version_options(versions, "listener.tls_versions")
    options += alpn_option(alpn, "listener.alpn_protocols")
    return options


def server_tls_options(
    pool: models.Pool, tls: PoolTls, directory: str, defaults: Any, sni: bool
) -> list[str]:
    """The words of a `server` line that re-encrypt traffic to a member."""
    options = ["ssl"]
    if tls.crt:
        options += ["crt", quote(posixpath.join(directory, tls.crt[1]), "cert_dir")]
    if tls.ca:
        options += ["ca-file", quote(posixpath.join(directory, tls.ca), "cert_dir"), "verify", "required"]
        if tls.crl:
            options += ["crl-file", quote(posixpath.join(directory, tls.crl), "cert_dir")]
    else:
        options += ["verify", "none"]
    if sni:
        options += ["sni", "ssl_fc_sni"]
    ciphers = pool.tls_ciphers or defaults.default_pool_ciphers
    versions = pool.tls_versions or defaults.default_pool_tls_versions
    alpn = pool.alpn_protocols or defaults.default_pool_alpn_protocols
    options += cipher_options(ciphers, "pool.tls_ciphers")
    options += version_options(versions, "pool.tls_versions")
    options += alpn_option(alpn, "pool.alpn_protocols")
    return options


def collect_tls_files(
    lb: models.LoadBalancer,
    cert_manager: CertSource,
    *,
    cert_dir: str,
    listeners: Iterable[models.Listener],
    pools: Iterable[models.Pool],
) -> dict[str, bytes]:
    """File name -> content of every TLS file that `listeners` and `pools` read."""
    project = lb.project_id or ""
    directory = lb_cert_dir(cert_dir, lb.id)
    files: dict[str, bytes] = {}

    def add_bundle(ref: str, name: str) -> None:
        if name not in files:
            files[name] = haproxy_pem(cert_manager.get_cert(project, ref))

    for listener in listeners:
        tls = listener_tls(listener)
        if tls is None:
            continue
        for ref, name in tls.certs:
            add_bundle(ref, name)
        files[tls.crt_list] = "".join(
            posixpath.join(directory, name) + "\n" for _, name in tls.certs
        ).encode()
        if tls.ca:
            files[tls.ca] = secret_pem(cert_manager, project, listener.client_ca_tls_certificate_id)
        if tls.crl:
            files[tls.crl] = secret_pem(cert_manager, project, listener.client_crl_container_id)
    for pool in pools:
        ptls = pool_tls(pool)
        if ptls is None:
            continue
        if ptls.crt:
            add_bundle(*ptls.crt)
        if ptls.ca:
            files[ptls.ca] = secret_pem(cert_manager, project, pool.ca_tls_certificate_id)
        if ptls.crl:
            files[ptls.crl] = secret_pem(cert_manager, project, pool.crl_container_id)
    return files


def secret_pem(cert_manager: CertSource, project_id: str, ref: str | None) -> bytes:
    """A CA bundle or CRL (a certificate container serves as a CA too, see CertManager)."""
    assert ref
    return _ends_with_newline(_as_bytes(cert_manager.get_secret(project_id, ref)))


def haproxy_pem(container: Any) -> bytes:
    """Certificate, intermediates and the private key (decrypted) in one PEM, as `crt` reads."""
    key = _as_bytes(container.private_key)
    passphrase = getattr(container, "passphrase", None)
    if passphrase:
        loaded = serialization.load_pem_private_key(key, password=_as_bytes(passphrase))
        key = loaded.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    intermediates = getattr(container, "intermediates", None) or ()
    if isinstance(intermediates, str | bytes):
        intermediates = [intermediates]
    parts = [_as_bytes(container.certificate), *(_as_bytes(i) for i in intermediates), key]
    return b"".join(_ends_with_newline(part) for part in parts)


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _ends_with_newline(data: bytes) -> bytes:
    return data if data.endswith(b"\n") else data + b"\n"
