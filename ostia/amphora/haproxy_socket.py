"""Talk to haproxy's unix sockets: the stats socket and the master CLI."""

from __future__ import annotations

import socket


class HaproxySocketError(OSError):
    """The socket is missing, refused the connection, or timed out."""


def send_command(path: str, command: str, timeout: float = 2.0) -> str:
    """Send one command and return everything haproxy answers before closing."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            sock.sendall(command.encode() + b"\n")
            # The master CLI answers only once it sees the end of the input.
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError as exc:
            raise HaproxySocketError(f"{path}: {command!r}: {exc}") from exc
    return b"".join(chunks).decode(errors="replace")
