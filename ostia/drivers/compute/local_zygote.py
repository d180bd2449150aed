"""The local compute driver's side of the agent zygote (ostia/cmd/agent_zygote.py): start it
once per amphora_dir, ask it to fork agents.

The zygote runs detached like the agents (new session, minimal environment) and outlives the
controller; a controller started later finds it through its socket. It is started again when
its socket does not answer, and stopped when the last local amphora is deleted (a new build
starts a fresh one, with the code installed then).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from ostia.common.process_env import agent_environment

SOCKET_NAME = "agent-zygote.sock"
LOG_NAME = "agent-zygote.log"
PID_NAME = "agent-zygote.pid"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 2.0


class ZygoteError(RuntimeError):
    """The zygote could not be started or did not fork the agent."""


class AgentZygote:
    def __init__(self, amphora_dir: str, short_root: str | None = None, python: str = sys.executable) -> None:
        """`short_root`: a private directory for the socket when amphora_dir is too deep
        for a unix socket path (socket_paths.SocketPaths.short_root)."""
        self.amphora_dir = amphora_dir
        self.socket_path = os.path.join(amphora_dir, SOCKET_NAME)
        if short_root is not None:
            digest = hashlib.sha256(amphora_dir.encode()).hexdigest()[:12]
            self.socket_path = os.path.join(short_root, f"zygote-{digest}.sock")
        self.pid_path = os.path.join(amphora_dir, PID_NAME)
        self.python = python

    def spawn(self, argv: list[str], cwd: str, log: str) -> int:
        """Fork an agent with `argv` (amphora-agent's arguments); its pid."""
        answer = self._ask({"argv": argv, "cwd": cwd, "log": log})
        pid = answer.get("pid")
        if not isinstance(pid, int):
            raise ZygoteError(f"agent zygote refused: {answer.get('error', answer)}")
        return pid

    def ensure_running(self) -> None:
        """Start the zygote unless one answers on the socket. Callers serialize this (the
        driver's build lock)."""
        if self._answers():
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        with open(os.path.join(self.amphora_dir, LOG_NAME), "ab") as log:
            process = subprocess.Popen(
                [self.python, "-m", "ostia.cmd.agent_zygote", "--socket", self.socket_path],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.amphora_dir,
                env=agent_environment(),
                close_fds=True,
                start_new_session=True,
            )
        # Reaped as soon as it exits, so that no zombie of ours stays behind.
        threading.Thread(target=process.wait, name="reap-agent-zygote", daemon=True).start()
        with open(self.pid_path + ".tmp", "w") as handle:
            handle.write(f"{process.pid}\n")
        os.replace(self.pid_path + ".tmp", self.pid_path)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if time.monotonic() > deadline:
                raise ZygoteError(f"agent zygote did not start in {START_TIMEOUT:.0f} s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the zygote (the agents it forked keep running: they are on their own)."""
        try:
            with open(self.pid_path) as handle:
                pid = int(handle.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if self.socket_path.encode() not in handle.read():
                    return  # the pid is someone else's by now
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + STOP_TIMEOUT
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.02)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.unlink(self.pid_path)

    def _answers(self) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            try:
                sock.connect(self.socket_path)
            except OSError:
                return False
        return True

    def _ask(self, request: dict[str, object]) -> dict[str, object]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            try:
                sock.connect(self.socket_path)
                sock.sendall(json.dumps(request).encode() + b"\n")
                data = b""
                while not data.endswith(b"\n"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError as exc:
                raise ZygoteError(f"agent zygote at {self.socket_path}: {exc}") from exc
        try:
            answer = json.loads(data)
        except ValueError as exc:
            raise ZygoteError(f"agent zygote answered {data[:200]!r}") from exc
        return answer if isinstance(answer, dict) else {"error": answer}
