"""uvicorn for our services: binds first, says when it serves, returns on SIGINT/SIGTERM.

uvicorn re-raises the signal that stopped it once it has shut down, which kills the
process before a caller's `finally` can stop controller threads or remove a pid file.
The listening socket is bound by `listen` before anything else starts, so a taken port is
one line and a non-zero exit, never a half-started service that then says it is up.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Generator

import uvicorn

from ostia.common.quiet_server import DatedApp, QuietServer

LOG = logging.getLogger(__name__)


class PortUnavailable(Exception):
    """The API's address cannot be bound (taken, not local, not allowed)."""


class Server(QuietServer):
    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self.on_started = on_started

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        import signal

        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_started is not None:
            self.on_started()


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or PortUnavailable with a readable reason."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise PortUnavailable(f"cannot listen on {host}:{port}: {err.strerror}") from None
    family, _type, _proto, _name, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Restarting while old connections sit in TIME_WAIT must work; a live listener
        # still makes bind fail (SO_REUSEADDR does not share a listening port on Linux).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as err:
        sock.close()
        reason = err.strerror or str(err)
        if err.errno == 98:
            reason = "address already in use (is another Ostia or Octavia API running?)"
        raise PortUnavailable(f"cannot listen on {host}:{port}: {reason}") from None
    sock.set_inheritable(True)
    return sock


def serve(
    app: object,
    host: str,
    port: int,
    certfile: str | None = None,
    keyfile: str | None = None,
    sock: socket.socket | None = None,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Serve `app` until SIGINT/SIGTERM, then return normally.

    `sock`: already bound by `listen` (else bound here, PortUnavailable if it cannot be);
    `on_started` runs once the API accepts connections.
    """
    scheme = "https" if certfile else "http"
    listening = sock or listen(host, port)

    def started() -> None:
        LOG.info("API listening on %s://%s:%d", scheme, host, port)
        if on_started is not None:
            on_started()

    server = Server(
        uvicorn.Config(
            DatedApp(app),  # type: ignore[arg-type]
            host=host,
            port=port,
            log_level="warning",
            # QuietServer does not tick: DatedApp dates each response instead.
            date_header=False,
            timeout_graceful_shutdown=2,
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        ),
        on_started=started,
    )
    try:
        server.run(sockets=[listening])
    finally:
        listening.close()
