"""uvicorn for our services: stops on SIGINT/SIGTERM and then returns, so cleanup runs.

uvicorn re-raises the signal that stopped it once it has shut down, which kills the
process before a caller's `finally` can stop controller threads or remove a pid file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator

import uvicorn


class Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        import signal

        previous = {sig: signal.signal(sig, self.handle_exit)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(app: object, host: str, port: int, certfile: str | None = None,
          keyfile: str | None = None) -> None:
    """Serve `app` until SIGINT/SIGTERM, then return normally."""
    Server(uvicorn.Config(app, host=host, port=port, log_level="warning",  # type: ignore[arg-type]
                          timeout_graceful_shutdown=2, ssl_certfile=certfile,
                          ssl_keyfile=keyfile)).run()
