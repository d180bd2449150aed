"""The agent's uvicorn server sleeps at rest, stops at once when asked, and still dates
its responses."""

from __future__ import annotations

import asyncio
import signal
import time
from email.utils import parsedate_to_datetime

import uvicorn

from ostia.common.quiet_server import DatedApp, QuietServer


async def _app(scope: object, receive: object, send: object) -> None:
    return None


def _server() -> QuietServer:
    return QuietServer(uvicorn.Config(_app, lifespan="off", log_config=None))


def test_an_idle_server_does_not_wake_until_asked_to_stop():
    server = _server()
    ticks = 0
    on_tick = server.on_tick

    async def counting(counter: int) -> bool:
        nonlocal ticks
        ticks += 1
        return await on_tick(counter)

    server.on_tick = counting  # type: ignore[method-assign]

    async def run_for(seconds: float) -> None:
        task = asyncio.ensure_future(server.main_loop())
        await asyncio.sleep(seconds)
        server.should_exit = True
        await asyncio.wait_for(task, 1)

    asyncio.run(run_for(2.5))
    # uvicorn's own loop ticks 25 times in 2.5 s; this one once to start, once to stop.
    assert ticks == 2


def test_a_signal_stops_the_main_loop_at_once():
    server = _server()

    async def stop_after(delay: float) -> float:
        task = asyncio.ensure_future(server.main_loop())
        await asyncio.sleep(delay)
        started = time.monotonic()
        server.handle_exit(signal.SIGTERM, None)
        await asyncio.wait_for(task, 10)
        return time.monotonic() - started

    assert asyncio.run(stop_after(0.1)) < 0.5


def test_every_response_carries_the_current_date():
    sent: list[dict[str, object]] = []

    async def app(scope: object, receive: object, send) -> None:  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x", b"1")]})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def receive() -> dict[str, object]:
        return {"type": "http.request"}

    asyncio.run(DatedApp(app)({"type": "http"}, receive, send))  # type: ignore[arg-type]
    headers = dict(sent[0]["headers"])  # type: ignore[call-overload]
    assert headers[b"x"] == b"1"
    date = parsedate_to_datetime(headers[b"date"].decode())
    assert abs(date.timestamp() - time.time()) < 5
    assert sent[1] == {"type": "http.response.body", "body": b""}
