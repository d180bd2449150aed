"""Listener and pool certificate files: `<base_cert_dir>/<lb_id>/<name>.pem`, mode 0600."""

from __future__ import annotations

import hashlib
import os

from ostia.amphora.paths import AgentPaths
from ostia.common.tls import write_pem_file


class CertificateStore:
    def __init__(self, paths: AgentPaths) -> None:
        self.paths = paths

    def put(self, lb_id: str, filename: str, pem: bytes) -> str:
        """Store the file and return its md5."""
        os.makedirs(self.paths.cert_dir(lb_id), mode=0o700, exist_ok=True)
        write_pem_file(self.paths.cert_file(lb_id, filename), pem, mode=0o600)
        return hashlib.md5(pem).hexdigest()

    def md5(self, lb_id: str, filename: str) -> str | None:
        try:
            with open(self.paths.cert_file(lb_id, filename), "rb") as handle:
                return hashlib.md5(handle.read()).hexdigest()
        except FileNotFoundError:
            return None

    def delete(self, lb_id: str, filename: str) -> None:
        try:
            os.unlink(self.paths.cert_file(lb_id, filename))
        except FileNotFoundError:
            pass
