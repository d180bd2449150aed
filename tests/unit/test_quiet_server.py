"""The agent's uvicorn server wakes about once a second at rest and stops at once on a
signal."""

from __future__ import annotations

import asyncio
import signal
import time

import uvicorn

from ostia.amphora import quiet_server
from ostia.amphora.quiet_server import QuietServer


async def _app(scope: object, receive: object, send: object) -> None:
    return None


def _server() -> QuietServer:
    return QuietServer(uvicorn.Config(_app, lifespan="off", log_config=None))


def test_an_idle_server_wakes_about_once_a_second():
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
        await asyncio.wait_for(task, 5)

    asyncio.run(run_for(2.5))
    # uvicorn's own loop ticks 25 times in 2.5 s.
    assert 2 <= ticks <= 5


def test_a_signal_stops_the_main_loop_without_waiting_for_the_tick(monkeypatch):
    monkeypatch.setattr(quiet_server, "TICK_SECONDS", 30.0)
    server = _server()

    async def stop_after(delay: float) -> float:
        task = asyncio.ensure_future(server.main_loop())
        await asyncio.sleep(delay)
        started = time.monotonic()
        server.handle_exit(signal.SIGTERM, None)
        await asyncio.wait_for(task, 10)
        return time.monotonic() - started

    assert asyncio.run(stop_after(0.1)) < 2.0
