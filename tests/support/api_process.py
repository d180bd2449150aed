"""octavia-api as a real process (its own config file, logging and TLS), for tests."""

from __future__ import annotations

import dataclasses
import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ostia.drivers.certs import x509
from tests.support.live_api import free_port, migrated_sqlite

BIN = Path(sys.executable).parent


@dataclasses.dataclass(frozen=True)
class ApiCertificates:
    ca: Path
    cert: Path
    key: Path


def write_api_certificates(directory: Path) -> ApiCertificates:
    """A fresh CA and a server certificate for 127.0.0.1/localhost signed by it."""
    ca_key = x509.new_private_key()
    ca_name = x509.name("Ostia test API CA")
    ca = x509.build_certificate(
        subject=ca_name,
        public_key=ca_key.public_key(),
        issuer=ca_name,
        issuer_key=ca_key,
        validity=datetime.timedelta(days=1),
        is_ca=True,
    )
    key = x509.new_private_key()
    cert = x509.build_certificate(
        subject=x509.name("127.0.0.1"),
        public_key=key.public_key(),
        issuer=ca_name,
        issuer_key=ca_key,
        issuer_cert=ca,
        validity=datetime.timedelta(days=1),
        server=True,
        alt_names=["127.0.0.1", "localhost"],
    )
    files = ApiCertificates(directory / "ca.pem", directory / "api.pem", directory / "api.key")
    files.ca.write_bytes(x509.cert_to_pem(ca))
    files.cert.write_bytes(x509.cert_to_pem(cert))
    files.key.write_bytes(x509.key_to_pem(key))
    files.key.chmod(0o600)
    return files


class ApiProcess:
    """`octavia-api --config-file <dir>/octavia.conf` on a free port, on a fresh database."""

    def __init__(self, directory: Path, sections: str, tls: ApiCertificates | None = None) -> None:
        self.dir = directory
        self.port = free_port()
        self.tls = tls
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.log = directory / "octavia-api.log"
        db = migrated_sqlite(str(directory / "octavia.db"))
        tls_lines = f"tls_certfile = {tls.cert}\ntls_keyfile = {tls.key}\n" if tls else ""
        self.conf = directory / "octavia.conf"
        self.conf.write_text(
            f"[DEFAULT]\nlog_file = {self.log}\n{_section(sections, 'DEFAULT')}\n"
            f"[database]\nconnection = {db}\n"
            f"[api_settings]\nbind_port = {self.port}\ndefault_provider_driver = noop_driver\n"
            f"{tls_lines}{_section(sections, 'api_settings')}\n" + _other_sections(sections)
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def client(self, **headers: str) -> httpx.Client:
        verify: bool | str = str(self.tls.ca) if self.tls else True
        return httpx.Client(base_url=self.url, headers=headers, verify=verify, timeout=30)

    def __enter__(self) -> ApiProcess:
        self.proc = subprocess.Popen(
            [str(BIN / "octavia-api"), "--config-file", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        with self.client() as client:
            while True:
                if self.proc.poll() is not None:
                    stderr = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise RuntimeError(f"octavia-api exited {self.proc.returncode}: {stderr}")
                try:
                    client.get("/")
                    return self
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        self.__exit__()
                        raise RuntimeError("octavia-api did not answer in 30 s") from None
                    time.sleep(0.1)

    def __exit__(self, *_exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _section(sections: str, name: str) -> str:
    """The body of `[name]` inside `sections` (an ini fragment), if it is there."""
    return _split(sections).get(name, "")


def _other_sections(sections: str) -> str:
    return "".join(
        f"[{name}]\n{body}\n"
        for name, body in _split(sections).items()
        if name not in ("DEFAULT", "api_settings")
    )


def _split(sections: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    current = None
    for line in sections.splitlines():
        if line.startswith("[") and line.rstrip().endswith("]"):
            current = line.strip()[1:-1]
            parts.setdefault(current, "")
        elif current is not None:
            parts[current] += line + "\n"
    return parts
