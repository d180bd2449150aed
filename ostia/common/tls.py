"""TLS helpers shared by the controller's agent client and the amphora agent.

Only the standard library's `ssl` is used here so that the agent, which runs inside an
amphora, starts without importing `cryptography`.
"""

from __future__ import annotations

import os
import re
import ssl
import tempfile

TLS_VERSIONS = {
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}

_PEM_BLOCK = re.compile(rb"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\r?\n.*?-----END (?P=label)-----\r?\n?", re.S)


def pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """Every PEM block in `data` as (label, block), in order ("CERTIFICATE", "PRIVATE KEY"...)."""
    blocks = []
    for match in _PEM_BLOCK.finditer(data):
        block = match.group(0)
        if not block.endswith(b"\n"):
            block += b"\n"
        blocks.append((match.group("label").decode("ascii"), block))
    return blocks


def split_cert_and_key(data: bytes) -> tuple[list[bytes], bytes]:
    """Split a combined PEM into its certificates (leaf first) and its one private key.

    Raises ValueError when there is no certificate or not exactly one private key.
    """
    certs = [block for label, block in pem_blocks(data) if label == "CERTIFICATE"]
    keys = [block for label, block in pem_blocks(data) if label.endswith("PRIVATE KEY")]
    if not certs:
        raise ValueError("no certificate found in PEM data")
    if len(keys) != 1:
        raise ValueError(f"expected one private key in PEM data, found {len(keys)}")
    return certs, keys[0]


def check_cert_and_key(data: bytes) -> None:
    """Raise ValueError unless `data` is a usable certificate chain plus its matching key."""
    split_cert_and_key(data)
    with tempfile.NamedTemporaryFile(suffix=".pem") as handle:
        handle.write(data)
        handle.flush()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(handle.name)
        except ssl.SSLError as exc:
            raise ValueError(f"certificate and key do not load: {exc}") from exc


def write_pem_file(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` atomically (temp file + rename) with `mode` from the start."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".pem")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def server_context(
    cert_and_key_file: str, client_ca_file: str, minimum_version: str = "TLSv1.2"
) -> ssl.SSLContext:
    """A server context that presents `cert_and_key_file` and requires a client certificate
    signed by `client_ca_file`. Reload the certificate later with `reload_server_certificate`.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS.get(minimum_version, ssl.TLSVersion.TLSv1_2)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=client_ca_file)
    context.load_cert_chain(cert_and_key_file)
    return context


def reload_server_certificate(context: ssl.SSLContext, cert_and_key_file: str) -> None:
    """Make `context` present a new certificate to connections accepted from now on.

    OpenSSL copies the context's certificate into each new connection, so connections already
    open keep the old one. Call it from the thread that accepts connections (the event loop)
    so that no handshake reads the context while it changes.
    """
    context.load_cert_chain(cert_and_key_file)


def client_context(cert_and_key_file: str | None, server_ca_file: str) -> ssl.SSLContext:
    """A client context trusting only `server_ca_file`, presenting `cert_and_key_file` if given.

    Hostname checking stays on: callers pass the expected name (the amphora id) as the
    server name.
    """
    context = ssl.create_default_context(cafile=server_ca_file)
    if cert_and_key_file:
        context.load_cert_chain(cert_and_key_file)
    return context
