"""Talk to haproxy's unix sockets: the stats socket and the master CLI."""

from __future__ import annotations

import socket
import time


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


def send_command_retrying(path: str, command: str, deadline: float, timeout: float = 2.0) -> str:
    """Like send_command, retrying refused connections until `deadline` (time.monotonic()).

    The master CLI refuses connections for a few tens of milliseconds while the master
    re-executes itself during a reload.
    """
    delay = 0.005
    while True:
        try:
            return send_command(path, command, timeout)
        except HaproxySocketError:
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
