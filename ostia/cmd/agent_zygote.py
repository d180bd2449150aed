"""A pre-loaded amphora agent that local amphorae are forked from (`[local_compute]
share_agent_memory`).

Nearly all of an idle agent's memory (about 22 of its 26 MiB) is the Python modules it
imports: oslo.config, asyncio, uvicorn, Starlette, ssl. Each agent started on its own holds
a private copy. This process imports them once, freezes them out of the garbage collector's
reach, and forks one child per amphora on request: the children share those pages
copy-on-write, and each pays only for what it changes.

A child is a whole agent of its own from the fork on: new session, its own working
directory, log file and configuration file, the same `amphora-agent` code path
(`ostia.cmd.agent.main`), nothing shared with its siblings but read-only pages. Killing it
is killing an agent. Children are reaped by the kernel (SIGCHLD ignored here), so a dead
agent never lingers as a zombie of this process.

Protocol, one request per connection on the unix socket: a JSON line
`{"argv": [...], "cwd": "...", "log": "..."}`, answered by `{"pid": N}` or `{"error": "..."}`.

    python -m ostia.cmd.agent_zygote --socket PATH
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import socket
import sys
import tempfile
import traceback
from collections.abc import Sequence

MAX_REQUEST = 65536


# Imported by an agent after it starts (its first request runs in anyio's thread pool,
# uvicorn picks its loop and protocols, the bind address goes through the idna codec): a
# module imported after the fork is a private copy in every agent.
LATE_IMPORTS = (
    "uvloop",
    "uvicorn.loops.auto",
    "uvicorn.loops.uvloop",
    "uvicorn.loops.asyncio",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.protocols.websockets.auto",
    "uvicorn.lifespan.off",
    "anyio._backends._asyncio",
    "anyio.streams.memory",
    "anyio.streams.stapled",
    "anyio.streams.tls",
    "encodings.idna",
    "importlib.readers",
    "importlib.resources.readers",
)


def preload() -> None:
    """Import what an agent imports, run what every agent runs first, and freeze it all.

    The garbage collector stays off from here to the freeze: a collection frees objects
    between the preloaded ones, and an agent that allocates into those holes copies the
    whole shared page. Python 3.11 also writes into
    the bytecode of every function it runs (the specializing interpreter), so what each
    agent runs at start is run here once, and the agents inherit it specialized.
    """
    gc.disable()
    import ostia.amphora.api.app  # noqa: F401
    import ostia.amphora.server  # noqa: F401
    import ostia.cmd.agent  # noqa: F401

    for optional in LATE_IMPORTS:
        with contextlib.suppress(ImportError):
            __import__(optional)
    warm_up()
    # Objects alive now are never scanned again: the collector would otherwise write to
    # every shared page it visits and undo the sharing.
    gc.freeze()
    gc.enable()


def warm_up() -> None:
    """Read a configuration, build an agent and its application, and one heartbeat
    message, as an agent does at start; in a directory removed afterwards."""
    from ostia.amphora.agent import Agent
    from ostia.amphora.api.app import create_app
    from ostia.amphora.heartbeat_payload import StatsCounters, build_message
    from ostia.common.config import load_config
    from ostia.common.quiet_server import DatedApp

    with tempfile.TemporaryDirectory(prefix="agent-zygote-") as scratch:
        path = os.path.join(scratch, "amphora-agent.conf")
        with open(path, "w") as handle:
            handle.write(
                f"[haproxy_amphora]\nbase_path = {scratch}/lb\nbase_cert_dir = {scratch}/certs\n"
                "[amphora_agent]\namphora_id = zygote\n"
            )
        for _ in range(3):  # enough runs for the interpreter to specialize the code
            conf = load_config([], args=["--config-file", path], prog="amphora-agent")
            agent = Agent(conf, [path])
            DatedApp(create_app(agent))
            build_message("zygote", 0, [], StatsCounters(os.path.join(scratch, "counters.json")))


def run_child(request: dict[str, object], listener: socket.socket, connection: socket.socket) -> int:
    """In the forked child: become the agent described by `request`; its exit code."""
    listener.close()
    connection.close()
    os.setsid()
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    log = os.open(str(request["log"]), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    from ostia.cmd import agent

    argv = [str(arg) for arg in request["argv"]]  # type: ignore[attr-defined]
    sys.argv = ["amphora-agent", *argv]
    try:
        return agent.main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - the child must never return into the zygote
        traceback.print_exc()
        return 1


def serve(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(16)
    home = os.getcwd()
    while True:
        connection, _ = listener.accept()
        with connection:
            try:
                connection.settimeout(10)
                data = b""
                while not data.endswith(b"\n") and len(data) < MAX_REQUEST:
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                request = json.loads(data)
                if not isinstance(request, dict) or not {"argv", "cwd", "log"} <= set(request):
                    raise ValueError("argv, cwd and log are required")
            except (OSError, ValueError) as exc:
                with contextlib.suppress(OSError):
                    connection.sendall(json.dumps({"error": str(exc)}).encode() + b"\n")
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            try:
                # Into the amphora's directory before the fork: the child is seen as the
                # amphora's process (working directory) from its first instant.
                os.chdir(str(request["cwd"]))
            except OSError as exc:
                with contextlib.suppress(OSError):
                    connection.sendall(json.dumps({"error": str(exc)}).encode() + b"\n")
                continue
            # What the zygote allocated since the last fork joins the frozen objects, so
            # that this agent's collector does not visit (and write) those pages either.
            gc.freeze()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    code = run_child(request, listener, connection)
                finally:
                    os._exit(code)
            os.chdir(home)
            with contextlib.suppress(OSError):
                connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agent-zygote", description=__doc__.split("\n")[0])
    parser.add_argument("--socket", required=True)
    args = parser.parse_args(argv)
    preload()
    # The kernel reaps the agents: no zombie while this process runs.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve(args.socket)
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.suppress(OSError):
            os.unlink(args.socket)
    return 0


if __name__ == "__main__":
    sys.exit(main())
