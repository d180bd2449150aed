"""uvicorn's server, asleep at rest until a request or a signal wakes it (the amphora agents
and the API).

uvicorn's main loop wakes ten times a second to check for a shutdown request and to refresh
its Date header. One agent does not notice; a thousand idle agents on one host spend a
share of a core on it, and an idle controller a share of its own. This server's main loop
waits for the signal that asks it to stop (stopping is as quick as before), and the Date
header is written with each response instead of refreshed on a timer.
"""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class QuietServer(uvicorn.Server):
    _wake: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _should_exit = False

    @property  # type: ignore[override]
    def should_exit(self) -> bool:
        return self._should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        # Whoever asks the server to stop (a signal handler, uvicorn itself) wakes the loop.
        self._should_exit = value
        if value and self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        # Counter 0: on_tick sets the default headers once (without a Date: see DatedApp).
        should_exit = await self.on_tick(0)
        while not should_exit:
            await self._wake.wait()
            self._wake.clear()
            should_exit = await self.on_tick(1)


class DatedApp:
    """Adds the Date header (RFC 7231) to every HTTP response of `app`; run it with
    uvicorn's `date_header=False`, whose own header is refreshed only by the timer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._second = -1
        self._date = b""

    def _now(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._date = formatdate(second, usegmt=True).encode()
        return self._date

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"date", self._now()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_dated)
